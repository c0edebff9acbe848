// The local MongoDB-wire server: mongo-java-server's memory backend made durable and given an
// oplog that behaves like a replica-set member's. `playlist2vec stack up` compiles deploy/mongo/*.java
// once per version and runs
//   java -cp <deploy/jvm mongo jars>:<classes> p2v.mongo.MongoLauncher <host> <port> <data dir> <oplog entries> <snapshot MB>
// Only the library's public and protected API is used (subclasses of MemoryBackend, MemoryDatabase,
// MemoryCollection and the public Oplog interface), nothing of it is patched or reached by reflection.
//
// What differs from stock 1.47, visible to a client:
// - Wire version 9 (pymongo >= 4.18 refuses 8), reported as MongoDB 5.0.
// - Durability. Every change of a document is a redo record (the document's new state, or its
//   deletion) appended, under the collection's lock, to an in-memory queue; one writer thread
//   writes the queue to an append-only journal segment and forces it to disk, many writes per
//   force (group commit). A command is answered only once the records it produced are forced, so
//   an acknowledged write survives kill -9. Snapshots (all documents, written while writes go on)
//   bound the replay: a snapshot starts a new segment, and the records after it are replayed on
//   top, last record per document winning, so a document changed during the snapshot still
//   recovers to its latest state. A torn last record (a crash mid-write) fails its checksum and is
//   cut off. Collections and indexes are recovered too (they are documents of system.namespaces
//   and system.indexes, journaled the same way).
// - The oplog is the journal's records in memory, in a skip list keyed by timestamp: a change
//   stream reads from its last position (O(log n + k)), only what is on disk (like majority read
//   concern), and entries beyond the bound are trimmed. A resume point older than what is kept
//   gets error 286 (ChangeStreamHistoryLost), as a replica set answers. Change events carry
//   documentKey {_id} only, fullDocument for inserts and replaces, updateDescription (top-level
//   fields) for updates, and updateLookup reads the current document through the _id index.
//   The records since the last snapshot are replayed into the oplog at start, so a resume token
//   survives a restart as long as its position is still kept.
// - Replies carry operationTime and $clusterTime, and change-stream batches postBatchResumeToken,
//   so a plain pymongo watch() without a start point works and resumes.
// - A filter that pins _id beside other fields ({_id: p, modified_at: {$lte: m}}) looks the
//   candidates up in the _id index and matches the whole filter on them; stock scans.
package p2v.mongo;

import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.List;

public class MongoLauncher {
    static final MongoVersion REPORTED = new MongoVersion() {
        public List<Integer> getVersionArray() { return List.of(5, 0, 0); }
        public int getWireVersion() { return 9; }
    };

    public static void main(String[] args) throws Exception {
        if (args.length != 5) {
            System.err.println("usage: MongoLauncher <host> <port> <data dir> <oplog entries> <snapshot MB>");
            System.exit(2);
        }
        long started = System.nanoTime();
        Path dir = Path.of(args[2]);
        int oplogEntries = Integer.parseInt(args[3]);
        long snapshotBytes = Long.parseLong(args[4]) << 20;
        DurableBackend backend = new DurableBackend(dir, oplogEntries, snapshotBytes);
        backend.version(REPORTED);
        MongoServer server = new MongoServer(backend);
        server.enableOplog();
        // Many event loops: a command waits for its journal force on its connection's loop.
        server.bind(new InetSocketAddress(args[0], Integer.parseInt(args[1])), 1, 64);
        Runtime.getRuntime().addShutdownHook(new Thread(server::shutdownNow));
        System.out.printf("mongo-java-server listening on %s:%s data=%s oplog<=%d entries; recovered %s in %d ms%n",
            args[0], args[1], dir, oplogEntries, backend.recoverySummary(), (System.nanoTime() - started) / 1_000_000);
        Thread.currentThread().join();
    }
}
