// The local MongoDB-wire server: mongo-java-server with a file-backed H2 store and the oplog
// enabled (change streams). Run in single-file mode by `playlist2vec stack up`:
//   java -cp <deploy/jvm mongo jars> MongoLauncher.java <host> <port> <data file>
// Stock 1.47 reports wire version 8; pymongo >= 4.18 refuses anything below 9, so the
// backend reports MongoDB 5.0 with wire version 9 instead (nothing else changes).
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import java.util.List;

public class MongoLauncher {
    static final MongoVersion REPORTED = new MongoVersion() {
        public List<Integer> getVersionArray() { return List.of(5, 0, 0); }
        public int getWireVersion() { return 9; }
    };

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: MongoLauncher <host> <port> <data file>");
            System.exit(2);
        }
        H2Backend backend = new H2Backend(args[2]);
        backend.version(REPORTED);
        MongoServer server = new MongoServer(backend);
        server.enableOplog();
        server.bind(args[0], Integer.parseInt(args[1]));
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.shutdownNow();
            backend.close();
        }));
        System.out.println("mongo-java-server listening on " + args[0] + ":" + args[1] + " data=" + args[2]);
        Thread.currentThread().join();
    }
}
