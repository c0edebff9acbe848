// The memory backend made durable: journal, snapshots, recovery at start, replica-set-like replies.
package p2v.mongo;

import de.bwaldvogel.mongo.backend.CollectionOptions;
import de.bwaldvogel.mongo.backend.Cursor;
import de.bwaldvogel.mongo.backend.CursorRegistry;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import de.bwaldvogel.mongo.backend.memory.MemoryCollection;
import de.bwaldvogel.mongo.backend.memory.MemoryDatabase;
import de.bwaldvogel.mongo.bson.BinData;
import de.bwaldvogel.mongo.bson.BsonTimestamp;
import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.exception.MongoServerException;
import de.bwaldvogel.mongo.oplog.Oplog;
import io.netty.channel.Channel;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static p2v.mongo.DataFiles.*;
import static p2v.mongo.Documents.*;
import static p2v.mongo.Rec.*;

final class DurableBackend extends MemoryBackend {
    final Path dir;
    final long snapshotBytes;
    final ChangeOplog changes;
    final Journal journal;
    final Map<String, DurableCollection> collections = new ConcurrentHashMap<>();
    private Map<String, Map<Object, Document>> recovered;
    private final String summary;
    private volatile long lastSnapshotBytes;
    private final FileLock lock;
    private static final ThreadLocal<long[]> WRITTEN = ThreadLocal.withInitial(() -> new long[2]);

    DurableBackend(Path dir, int oplogEntries, long snapshotBytes) throws IOException {
        this.dir = dir;
        this.snapshotBytes = snapshotBytes;
        Files.createDirectories(dir);
        lock = FileChannel.open(dir.resolve("mongod.lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE)
            .tryLock();
        if (lock == null) {
            throw new IOException("data dir " + dir + " is in use by another server");
        }
        changes = new ChangeOplog(oplogEntries, Runtime.getRuntime().maxMemory() / 4);
        changes.backend = this;
        changes.cursors = getCursorRegistry();
        Recovery recovery = new Recovery(dir, changes);
        recovered = recovery.state;
        summary = recovery.summary();
        lastSnapshotBytes = recovery.snapshotBytes;
        journal = new Journal(dir, changes, recovery.nextSegment, recovery.lastTs, recovery.journalBytes);
        changes.durableUpTo(journal.lastTs());
        recovered.values().removeIf(Map::isEmpty);
        for (String ns : new ArrayList<>(recovered.keySet())) {
            resolveDatabase(ns.substring(0, ns.indexOf('.')));
        }
        recovered.keySet().removeIf(ns -> ns.endsWith(".system.indexes") || ns.endsWith(".system.namespaces"));
        if (!recovered.isEmpty()) {
            System.err.println("ignoring recovered documents of unlisted collections " + recovered.keySet());
        }
        recovered = null;
        journal.start();
        Thread snapshots = new Thread(this::snapshotLoop, "snapshots");
        snapshots.setDaemon(true);
        snapshots.start();
    }

    String recoverySummary() {
        return summary;
    }

    @Override
    protected Oplog createOplog() {
        return changes;
    }

    @Override
    public MemoryDatabase openOrCreateDatabase(String databaseName) {
        return new DurableDatabase(databaseName, getCursorRegistry());
    }

    Collection<Document> takeRecovered(String ns) {
        if (recovered == null) {
            return List.of();
        }
        Map<Object, Document> docs = recovered.remove(ns);
        return docs == null ? List.of() : docs.values();
    }

    // Inner: MemoryDatabase's constructor opens the existing collections, before a field of
    // a subclass could be set.
    final class DurableDatabase extends MemoryDatabase {
        DurableDatabase(String name, CursorRegistry cursors) {
            super(name, cursors);
        }

        @Override
        protected MemoryCollection openOrCreateCollection(String name, CollectionOptions options) {
            return new DurableCollection(this, name, options, cursorRegistry, DurableBackend.this);
        }
    }

    void log(Rec rec) {
        long seq = journal.append(rec);
        long[] written = WRITTEN.get();
        written[0] = seq;
        written[1] = rec.ts;
    }

    Document findById(String ns, Object id) {
        DurableCollection collection = collections.get(ns);
        return collection == null ? null : collection.findById(id);
    }

    @Override
    public Document handleCommand(Channel channel, String databaseName, String command, Document query) {
        long[] written = WRITTEN.get();
        written[0] = 0;
        Document response;
        ChangeOplog.EXCLUSION.set("aggregate".equals(command) ? Exclusion.take(query) : null);
        try {
            response = super.handleCommand(channel, databaseName, command, query);
        } finally {
            ChangeOplog.EXCLUSION.remove();
        }
        long opTime;
        if (written[0] > 0) {
            journal.awaitDurable(written[0]);
            opTime = written[1];
        } else {
            opTime = journal.durableTs();
        }
        if (response == null) {
            return null;
        }
        Object cursor = response.get("cursor");
        if (cursor instanceof Document) {
            Object id = ((Document) cursor).get("id");
            if (id instanceof Number && ((Number) id).longValue() != 0) {
                Cursor open;
                try {
                    open = getCursorRegistry().getCursor(((Number) id).longValue());
                } catch (MongoServerException e) {
                    open = null;   // closed meanwhile
                }
                if (open instanceof ChangeOplog.ChangeCursor) {
                    ((Document) cursor).put("postBatchResumeToken",
                        ((ChangeOplog.ChangeCursor) open).postBatchResumeToken());
                }
            }
        }
        BsonTimestamp time = new BsonTimestamp(opTime);
        response.put("operationTime", time);
        response.put("$clusterTime", new Document("clusterTime", time).append("signature",
            new Document("hash", new BinData(new byte[20])).append("keyId", 0L)));
        return response;
    }

    @Override
    public Document getServerStatus() {
        Document status = super.getServerStatus();
        status.put("oplog", changes.stats());
        status.put("journal", new Document("segment", journal.segment())
            .append("bytesSinceSnapshot", journal.bytesSinceSnapshot())
            .append("lastSnapshotBytes", lastSnapshotBytes));
        return status;
    }

    // A snapshot once the journal since the last one outgrows max(snapshot MB, last snapshot):
    // rewriting everything costs no more than the journal it retires.
    private void snapshotLoop() {
        while (true) {
            try {
                Thread.sleep(1000);
                if (journal.bytesSinceSnapshot() >= Math.max(snapshotBytes, lastSnapshotBytes)) {
                    snapshot();
                }
            } catch (InterruptedException e) {
                return;
            } catch (IOException | RuntimeException e) {
                System.err.println("snapshot failed (the journal still has everything): " + e);
            }
        }
    }

    void snapshot() throws IOException, InterruptedException {
        long began = System.nanoTime();
        long[] cut = journal.rotate();
        long number = cut[0];
        Path tmp = dir.resolve(snapshotName(number) + ".tmp");
        long docs = 0;
        try (FileChannel file = FileChannel.open(tmp, StandardOpenOption.CREATE,
            StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
            ByteBuffer buffer = ByteBuffer.allocate(4 << 20);
            for (DurableCollection collection : new ArrayList<>(collections.values())) {
                for (List<Rec> chunk : collection.snapshotChunks()) {
                    for (Rec rec : chunk) {
                        write(file, buffer, rec);
                        docs++;
                    }
                }
            }
            Rec end = new Rec(SNAPSHOT_END, "", encode(new Document("documents", docs)), null, null);
            end.ts = cut[1];
            write(file, buffer, end);
            buffer.flip();
            while (buffer.hasRemaining()) {
                file.write(buffer);
            }
            file.force(true);
            lastSnapshotBytes = file.size();
        }
        Files.move(tmp, dir.resolve(snapshotName(number)), StandardCopyOption.ATOMIC_MOVE);
        forceDirectory(dir);
        while (journal.segment() < number) {
            Thread.sleep(10);
        }
        try (Stream<Path> files = Files.list(dir)) {
            for (Path file : files.collect(Collectors.toList())) {
                String name = file.getFileName().toString();
                if ((name.startsWith("journal-") || name.startsWith("snapshot-")) && !name.endsWith(".tmp")
                    && fileNumber(file) < number) {
                    Files.delete(file);
                }
            }
        }
        System.out.printf("snapshot %d: %d documents, %d MB in %d ms%n", number, docs, lastSnapshotBytes >> 20,
            (System.nanoTime() - began) / 1_000_000);
    }

    private static void write(FileChannel file, ByteBuffer buffer, Rec rec) throws IOException {
        int size = rec.frameSize();
        if (buffer.remaining() < size) {
            buffer.flip();
            while (buffer.hasRemaining()) {
                file.write(buffer);
            }
            buffer.clear();
        }
        if (buffer.remaining() < size) {
            ByteBuffer big = ByteBuffer.allocate(size);
            rec.writeTo(big);
            big.flip();
            while (big.hasRemaining()) {
                file.write(big);
            }
            return;
        }
        rec.writeTo(buffer);
    }

    @Override
    public void close() {
        super.close();
        try {
            journal.close();
            lock.release();
        } catch (IOException | InterruptedException e) {
            System.err.println("closing the journal: " + e);
        }
    }
}
