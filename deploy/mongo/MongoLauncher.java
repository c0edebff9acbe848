// The local MongoDB-wire server: mongo-java-server with a file-backed H2 store and the oplog
// enabled (change streams). Run in single-file mode by `playlist2vec stack up`:
//   java -cp <deploy/jvm mongo jars> MongoLauncher.java <host> <port> <data file>
// Three departures from stock 1.47, neither visible to a client except in speed and version:
// - Stock 1.47 reports wire version 8; pymongo >= 4.18 refuses anything below 9, so the
//   backend reports MongoDB 5.0 with wire version 9 instead.
// - Stock 1.47 uses the _id index only when a filter is exactly {_id: ...}; any other field
//   beside it (our conditional upserts filter on {_id, modified_at: {$lte: m}}) scans and
//   deserialises the whole collection under its lock, so n upserts cost O(n^2). Here a filter
//   that pins _id looks the candidates up in the _id index and matches the full filter on
//   them: top-level filter fields are ANDed, so the answer is the same. MongoDB does this too.
// - A page cache sized from the heap (below).
import de.bwaldvogel.mongo.MongoCollection;
import de.bwaldvogel.mongo.MongoDatabase;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.CollectionOptions;
import de.bwaldvogel.mongo.backend.CursorRegistry;
import de.bwaldvogel.mongo.backend.Index;
import de.bwaldvogel.mongo.backend.QueryResult;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.backend.h2.H2Collection;
import de.bwaldvogel.mongo.backend.h2.H2Database;
import de.bwaldvogel.mongo.bson.Document;
import java.util.List;
import org.h2.mvstore.MVStore;

public class MongoLauncher {
    static final MongoVersion REPORTED = new MongoVersion() {
        public List<Integer> getVersionArray() { return List.of(5, 0, 0); }
        public int getWireVersion() { return 9; }
    };

    // H2's page cache defaults to 16 MB: beyond that every _id and oplog index probe reads and
    // deserialises pages from the file again, and upserts crawl. A quarter of the heap instead.
    static final int CACHE_MB = (int) Math.max(16, Runtime.getRuntime().maxMemory() / 4 / (1 << 20));

    // H2Database's own (private) map-name prefixes; a collection must open the same maps.
    static final String DATA_PREFIX = "databases.";
    static final String META_PREFIX = "meta.";

    static final class IdLookupBackend extends H2Backend {
        IdLookupBackend(String fileName) {
            super(new MVStore.Builder().fileName(fileName).cacheSize(CACHE_MB).open());
        }

        @Override
        protected MongoDatabase openOrCreateDatabase(String databaseName) {
            return new IdLookupDatabase(databaseName, getMvStore(), getCursorRegistry());
        }

        // Inner (not static): H2Database's constructor opens the existing collections before a
        // field of this subclass could be set, so the store is read from the backend instead.
        final class IdLookupDatabase extends H2Database {
            IdLookupDatabase(String name, MVStore store, CursorRegistry cursors) {
                super(name, store, cursors);
            }

            @Override
            protected MongoCollection<Object> openOrCreateCollection(String name, CollectionOptions options) {
                String full = getFullCollectionNamespace(name);
                MVStore store = getMvStore();
                return new IdLookupCollection(this, name, options, store.openMap(DATA_PREFIX + full),
                    store.openMap(META_PREFIX + full), cursorRegistry);
            }
        }
    }

    static final class IdLookupCollection extends H2Collection {
        IdLookupCollection(MongoDatabase database, String name, CollectionOptions options,
                           org.h2.mvstore.MVMap<Object, Document> data,
                           org.h2.mvstore.MVMap<String, Object> meta, CursorRegistry cursors) {
            super(database, name, options, data, meta, cursors);
        }

        @Override
        protected QueryResult queryDocuments(Document query, Document orderBy, int skip, int limit,
                                             int batchSize, Document fieldSelector) {
            String id = getIdField();
            if (query.size() > 1 && query.containsKey(id)) {
                Document byId = new Document(id, query.get(id));
                for (Index<Object> index : getIndexes()) {
                    if (index.canHandle(byId)) {
                        return matchDocuments(query, index.getPositions(byId), orderBy, skip, limit,
                            batchSize, fieldSelector);
                    }
                }
            }
            return super.queryDocuments(query, orderBy, skip, limit, batchSize, fieldSelector);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: MongoLauncher <host> <port> <data file>");
            System.exit(2);
        }
        H2Backend backend = new IdLookupBackend(args[2]);
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
