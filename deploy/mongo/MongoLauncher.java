// The local MongoDB-wire server: mongo-java-server's memory backend made durable and given an
// oplog that behaves like a replica-set member's. Run in single-file mode by `playlist2vec stack up`:
//   java -cp <deploy/jvm mongo jars> MongoLauncher.java <host> <port> <data dir> <oplog entries> <snapshot MB>
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
import de.bwaldvogel.mongo.MongoDatabase;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.AbstractCursor;
import de.bwaldvogel.mongo.backend.ArrayFilters;
import de.bwaldvogel.mongo.backend.CollectionOptions;
import de.bwaldvogel.mongo.backend.Cursor;
import de.bwaldvogel.mongo.backend.CursorRegistry;
import de.bwaldvogel.mongo.backend.Index;
import de.bwaldvogel.mongo.backend.QueryResult;
import de.bwaldvogel.mongo.backend.aggregation.Aggregation;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import de.bwaldvogel.mongo.backend.memory.MemoryCollection;
import de.bwaldvogel.mongo.backend.memory.MemoryDatabase;
import de.bwaldvogel.mongo.bson.BinData;
import de.bwaldvogel.mongo.bson.BsonTimestamp;
import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.exception.MongoServerError;
import de.bwaldvogel.mongo.exception.MongoServerException;
import de.bwaldvogel.mongo.oplog.Oplog;
import de.bwaldvogel.mongo.wire.bson.BsonDecoder;
import de.bwaldvogel.mongo.wire.bson.BsonEncoder;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import java.util.zip.CRC32C;

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

    // ---------------------------------------------------------------------------------------
    // Records: one change of one document (or of a collection), as journaled and as kept in the oplog.

    static final byte INSERT = 'i', REPLACE = 'r', UPDATE = 'u', DELETE = 'd', DROP = 'D', RENAME = 'R',
        SNAPSHOT_DOC = 'p', SNAPSHOT_END = 'E', ROTATE = '>';

    static final class Rec {
        final byte type;
        final String ns;
        final byte[] doc;    // the new state (i/r/u/p); {_id} or the whole document (d); details (D/R/E)
        final byte[] extra;  // updateDescription of an update, else null
        final Object id;     // the document's _id (i/r/u/d), else null
        long ts;
        long seq;

        Rec(byte type, String ns, byte[] doc, byte[] extra, Object id) {
            this.type = type;
            this.ns = ns;
            this.doc = doc;
            this.extra = extra;
            this.id = id;
        }

        int size() {
            return 64 + ns.length() + (doc == null ? 0 : doc.length) + (extra == null ? 0 : extra.length);
        }

        // frame: int payload length, int crc32c(payload), payload = type, ts, ns, doc, [extra]
        void writeTo(ByteBuffer out) {
            byte[] nsBytes = ns.getBytes(StandardCharsets.UTF_8);
            int length = 1 + 8 + 2 + nsBytes.length + doc.length + (extra == null ? 0 : extra.length);
            int start = out.position();
            out.putInt(length).putInt(0);
            int payload = out.position();
            out.put(type).putLong(ts).putShort((short) nsBytes.length).put(nsBytes).put(doc);
            if (extra != null) {
                out.put(extra);
            }
            CRC32C crc = new CRC32C();
            crc.update(out.array(), out.arrayOffset() + payload, length);
            out.putInt(start + 4, (int) crc.getValue());
        }

        int frameSize() {
            return 8 + 1 + 8 + 2 + ns.getBytes(StandardCharsets.UTF_8).length + doc.length
                + (extra == null ? 0 : extra.length);
        }

        // The next whole, intact record of `in`, or null at its end or at a torn or corrupt record.
        static Rec readFrom(ByteBuffer in) {
            if (in.remaining() < 8) {
                return null;
            }
            int start = in.position();
            int length = in.getInt();
            int crcValue = in.getInt();
            if (length < 11 || length > in.remaining()) {
                in.position(start);
                return null;
            }
            CRC32C crc = new CRC32C();
            crc.update(in.array(), in.arrayOffset() + in.position(), length);
            if ((int) crc.getValue() != crcValue) {
                in.position(start);
                return null;
            }
            int end = in.position() + length;
            byte type = in.get();
            long ts = in.getLong();
            byte[] nsBytes = new byte[in.getShort()];
            in.get(nsBytes);
            int docLength = Integer.reverseBytes(in.getInt(in.position()));   // BSON is little-endian
            byte[] doc = new byte[docLength];
            in.get(doc);
            byte[] extra = null;
            if (in.position() < end) {
                extra = new byte[end - in.position()];
                in.get(extra);
            }
            Rec rec = new Rec(type, new String(nsBytes, StandardCharsets.UTF_8), doc, extra, null);
            rec.ts = ts;
            return rec;
        }
    }

    static byte[] encode(Document document) {
        ByteBuf buf = Unpooled.buffer(256);
        BsonEncoder.encodeDocument(document, buf);
        byte[] bytes = new byte[buf.readableBytes()];
        buf.readBytes(bytes);
        return bytes;
    }

    static Document decode(byte[] bytes) {
        return BsonDecoder.decodeBson(Unpooled.wrappedBuffer(bytes));
    }

    // _id values as the unique index compares them (numbers by value), for the recovery maps.
    static Object idKey(Object value) {
        if (value instanceof Number && !(value instanceof Double && ((Double) value).isNaN())) {
            return Double.valueOf(((Number) value).doubleValue());
        } else if (value instanceof Document) {
            Document key = new Document();
            ((Document) value).forEach((k, v) -> key.put(k, idKey(v)));
            return key;
        } else if (value instanceof List) {
            return ((List<?>) value).stream().map(MongoLauncher::idKey).collect(Collectors.toList());
        }
        return value;
    }

    static String idField(String ns) {
        if (ns.endsWith(".system.namespaces")) {
            return "name";
        }
        return ns.endsWith(".system.indexes") ? null : "_id";
    }

    static boolean isSystem(String ns) {
        return ns.substring(ns.indexOf('.') + 1).startsWith("system.");
    }

    // ---------------------------------------------------------------------------------------
    // The journal: append (under the caller's collection lock), group commit by one writer thread.

    static final class Journal implements Runnable {
        final Path dir;
        final ChangeOplog oplog;
        private List<Rec> pending = new ArrayList<>();
        private long lastSeq;
        private long lastTs;
        private volatile long durableSeq;
        private volatile long durableTs;
        private volatile IOException failure;
        private volatile boolean closing;
        private long segment;          // the segment being written
        private long lastCut;          // the segment the latest rotation opens
        private long segmentBytes;     // journal since the last snapshot's cut
        private final Object durable = new Object();
        private FileChannel out;
        private ByteBuffer buffer = ByteBuffer.allocate(1 << 20);
        private final Thread writer = new Thread(this, "journal-writer");

        Journal(Path dir, ChangeOplog oplog, long segment, long lastTs, long bytesSinceSnapshot) {
            this.dir = dir;
            this.oplog = oplog;
            this.segment = segment;
            this.segmentBytes = bytesSinceSnapshot;
            this.lastCut = segment;
            this.lastTs = Math.max(lastTs, nowTs());
            this.durableTs = this.lastTs;
        }

        static long nowTs() {
            return (Instant.now().getEpochSecond() << 32) | 1;
        }

        void start() throws IOException {
            out = openSegment(segment);
            writer.setDaemon(true);
            writer.start();
        }

        FileChannel openSegment(long number) throws IOException {
            FileChannel channel = FileChannel.open(dir.resolve(segmentName(number)),
                StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
            forceDirectory(dir);
            return channel;
        }

        // Assigns the record its place in time and queues it; the caller waits with awaitDurable.
        synchronized long append(Rec rec) {
            if (failure != null) {
                throw new MongoServerException("journal failed: " + failure.getMessage());
            }
            long now = nowTs();
            lastTs = now > lastTs ? now : lastTs + 1;
            rec.ts = lastTs;
            rec.seq = ++lastSeq;
            pending.add(rec);
            if (rec.type != ROTATE) {
                oplog.add(rec);
            }
            if (pending.size() == 1) {
                notifyAll();
            }
            return rec.seq;
        }

        // Starts a new segment; returns {first segment after the cut, last timestamp before it}.
        synchronized long[] rotate() {
            long before = lastTs;
            append(new Rec(ROTATE, "", new byte[0], null, null));
            return new long[] {++lastCut, before};
        }

        synchronized long lastTs() {
            return lastTs;
        }

        long durableTs() {
            return durableTs;
        }

        synchronized long bytesSinceSnapshot() {
            return segmentBytes;
        }

        synchronized long segment() {
            return segment;
        }

        void awaitDurable(long seq) {
            synchronized (durable) {
                while (durableSeq < seq) {
                    if (failure != null) {
                        throw new MongoServerException("journal failed: " + failure.getMessage());
                    }
                    try {
                        durable.wait();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new MongoServerException("interrupted while waiting for the journal");
                    }
                }
            }
        }

        @Override
        public void run() {
            try {
                while (true) {
                    List<Rec> batch;
                    synchronized (this) {
                        while (pending.isEmpty() && !closing) {
                            wait();
                        }
                        if (pending.isEmpty()) {
                            return;
                        }
                        batch = pending;
                        pending = new ArrayList<>();
                    }
                    write(batch);
                }
            } catch (IOException e) {
                failure = e;
                System.err.println("journal write failed: " + e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                synchronized (durable) {
                    durable.notifyAll();
                }
            }
        }

        private void write(List<Rec> batch) throws IOException {
            buffer.clear();
            long written = 0;
            for (Rec rec : batch) {
                if (rec.type == ROTATE) {
                    flush();
                    out.force(false);
                    out.close();
                    synchronized (this) {
                        segment++;
                        segmentBytes = 0;
                    }
                    written = 0;
                    out = openSegment(segment);
                    continue;
                }
                int size = rec.frameSize();
                if (buffer.remaining() < size) {
                    flush();
                    if (buffer.capacity() < size) {
                        buffer = ByteBuffer.allocate(size);
                    }
                }
                rec.writeTo(buffer);
                written += size;
            }
            flush();
            out.force(false);
            synchronized (this) {
                segmentBytes += written;
            }
            Rec last = batch.get(batch.size() - 1);
            synchronized (durable) {
                durableTs = last.ts;
                durableSeq = last.seq;
                durable.notifyAll();
            }
            oplog.durableUpTo(last.ts);
        }

        private void flush() throws IOException {
            buffer.flip();
            while (buffer.hasRemaining()) {
                out.write(buffer);
            }
            buffer.clear();
        }

        void close() throws InterruptedException, IOException {
            synchronized (this) {
                closing = true;
                notifyAll();
            }
            writer.join(10_000);
            if (out != null) {
                out.close();
            }
        }
    }

    static String segmentName(long number) {
        return String.format("journal-%012d.log", number);
    }

    static String snapshotName(long number) {
        return String.format("snapshot-%012d.bson", number);
    }

    static long fileNumber(Path file) {
        String name = file.getFileName().toString();
        return Long.parseLong(name.substring(name.indexOf('-') + 1, name.indexOf('.')));
    }

    static void forceDirectory(Path dir) throws IOException {
        try (FileChannel channel = FileChannel.open(dir, StandardOpenOption.READ)) {
            channel.force(true);
        }
    }

    // ---------------------------------------------------------------------------------------
    // The oplog: the records in time order, read by change-stream cursors from their position.

    static final class ChangeOplog implements Oplog {
        private final ConcurrentSkipListMap<Long, Rec> entries = new ConcurrentSkipListMap<>();
        private final int maxEntries;
        private final long maxBytes;
        private int count;
        private long bytes;
        private volatile long lostUpTo = -1;   // entries up to this timestamp are gone (-1: none)
        private volatile long visibleTs;       // entries up to this timestamp are on disk
        DurableBackend backend;
        CursorRegistry cursors;

        ChangeOplog(int maxEntries, long maxBytes) {
            this.maxEntries = maxEntries;
            this.maxBytes = maxBytes;
        }

        // Called under the journal's lock: in timestamp order.
        void add(Rec rec) {
            if (rec.type == SNAPSHOT_DOC || isSystem(rec.ns)) {
                return;
            }
            entries.put(rec.ts, rec);
            count++;
            bytes += rec.size();
            while (count > maxEntries || bytes > maxBytes) {
                Map.Entry<Long, Rec> first = entries.pollFirstEntry();
                count--;
                bytes -= first.getValue().size();
                lostUpTo = first.getKey();
            }
        }

        void durableUpTo(long ts) {
            visibleTs = ts;
        }

        void lostUpTo(long ts) {
            lostUpTo = Math.max(lostUpTo, ts);
        }

        synchronized Document stats() {
            return new Document("entries", count).append("bytes", bytes).append("maxEntries", maxEntries)
                .append("maxBytes", maxBytes)
                .append("first", entries.isEmpty() ? null : new BsonTimestamp(entries.firstKey()))
                .append("last", entries.isEmpty() ? null : new BsonTimestamp(entries.lastKey()))
                .append("lostUpTo", new BsonTimestamp(Math.max(lostUpTo, 0)));
        }

        @Override
        public void handleInsert(String namespace, List<Document> documents) {
            // journaled, with the outcome, by DurableCollection
        }

        @Override
        public void handleUpdate(String namespace, Document selector, Document query, List<Object> modifiedIds) {
        }

        @Override
        public void handleDelete(String namespace, Document query, List<Object> deletedIds) {
        }

        @Override
        public void handleDropCollection(String namespace) {
        }

        @Override
        public Cursor createCursor(Document spec, String namespace, Aggregation aggregation) {
            Document resumeAfter = (Document) spec.get("resumeAfter");
            Document startAfter = (Document) spec.get("startAfter");
            Object startAt = spec.get("startAtOperationTime");
            long position;
            if (resumeAfter != null || startAfter != null) {
                position = tokenTs(resumeAfter != null ? resumeAfter : startAfter);
                checkRetained(position);
            } else if (startAt instanceof BsonTimestamp) {
                position = ((BsonTimestamp) startAt).getValue() - 1;
                checkRetained(position);
            } else {
                position = Math.max(visibleTs, lostUpTo);   // from now: no history to lose
            }
            boolean lookup = "updateLookup".equals(spec.get("fullDocument"));
            ChangeCursor cursor = new ChangeCursor(cursors.generateCursorId(), namespace, position, lookup,
                aggregation.getStages().isEmpty() ? null : aggregation);
            cursors.add(cursor);
            return cursor;
        }

        void checkRetained(long position) {
            if (position < lostUpTo) {
                throw new MongoServerError(286, "ChangeStreamHistoryLost",
                    "Resume of change stream was not possible, as the resume point may no longer be in the oplog.");
            }
        }

        static long tokenTs(Document token) {
            Object data = token.get("_data");
            try {
                return Long.parseUnsignedLong((String) data, 16);
            } catch (RuntimeException e) {
                throw new MongoServerError(260, "InvalidResumeToken", "Invalid resume token: " + token);
            }
        }

        static Document token(long ts) {
            return new Document("_data", String.format("%016x", ts));
        }

        Document toEvent(Rec rec, boolean lookup) {
            int dot = rec.ns.indexOf('.');
            Document event = new Document("_id", token(rec.ts));
            String operation;
            switch (rec.type) {
                case INSERT: operation = "insert"; break;
                case REPLACE: operation = "replace"; break;
                case UPDATE: operation = "update"; break;
                case DELETE: operation = "delete"; break;
                case DROP: operation = "drop"; break;
                default: return null;
            }
            event.append("operationType", operation).append("clusterTime", new BsonTimestamp(rec.ts))
                .append("ns", new Document("db", rec.ns.substring(0, dot)).append("coll", rec.ns.substring(dot + 1)));
            if (rec.type == DROP) {
                return event;
            }
            event.append("documentKey", new Document("_id", rec.id));
            if (rec.type == INSERT || rec.type == REPLACE) {
                event.append("fullDocument", decode(rec.doc));
            } else if (rec.type == UPDATE) {
                event.append("updateDescription", decode(rec.extra));
                if (lookup) {
                    event.append("fullDocument", backend.findById(rec.ns, rec.id));
                }
            }
            return event;
        }

        final class ChangeCursor extends AbstractCursor {
            private final String namespace;
            private final boolean lookup;
            private final Aggregation stages;
            private volatile long position;   // the last timestamp examined

            ChangeCursor(long id, String namespace, long position, boolean lookup, Aggregation stages) {
                super(id);
                this.namespace = namespace;
                this.position = position;
                this.lookup = lookup;
                this.stages = stages;
            }

            @Override
            public boolean isEmpty() {
                return false;   // tailable
            }

            @Override
            public synchronized List<Document> takeDocuments(int numberToReturn) {
                checkRetained(position);
                int limit = numberToReturn > 0 ? numberToReturn : 1000;
                long visible = visibleTs;
                if (position >= visible) {
                    return List.of();
                }
                long[] scanned = {position};
                Stream<Document> events = entries.subMap(position, false, visible, true).values().stream()
                    .peek(rec -> scanned[0] = rec.ts)
                    .filter(rec -> rec.ns.equals(namespace))
                    .map(rec -> toEvent(rec, lookup));
                if (stages != null) {
                    events = stages.runStagesAsStream(events);
                }
                List<Document> batch = events.limit(limit).collect(Collectors.toList());
                position = batch.size() < limit ? Math.max(visible, position) : scanned[0];
                return batch;
            }

            Document postBatchResumeToken() {
                return token(position);
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Storage: the memory backend whose collections journal every change.

    static final class DurableBackend extends MemoryBackend {
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
            Document response = super.handleCommand(channel, databaseName, command, query);
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

    static final class DurableCollection extends MemoryCollection {
        private final DurableBackend backend;
        private Document runningUpdate;   // the update spec being applied, under this collection's lock
        private String registeredAs;

        DurableCollection(MongoDatabase database, String name, CollectionOptions options, CursorRegistry cursors,
                          DurableBackend backend) {
            super(database, name, options, cursors);
            this.backend = backend;
            for (Document document : backend.takeRecovered(getFullName())) {
                addDocumentInternal(document);
            }
            registeredAs = getFullName();
            backend.collections.put(registeredAs, this);
        }

        @Override
        protected boolean tracksDataSize() {
            return false;   // the library's size accounting needs a package-private helper
        }

        private void log(byte type, Document document, byte[] extra) {
            String idField = getIdField();
            Object id = idField == null ? null : document.get(idField);
            byte[] bytes = type == DELETE && idField != null ? encode(new Document(idField, id)) : encode(document);
            backend.log(new Rec(type, getFullName(), bytes, extra, id));
        }

        @Override
        public synchronized void addDocument(Document document) {
            super.addDocument(document);
            log(INSERT, document, null);
        }

        @Override
        public synchronized Document updateDocuments(Document selector, Document update, ArrayFilters arrayFilters,
                                                     boolean multi, boolean upsert, Oplog oplog) {
            runningUpdate = update;
            try {
                return super.updateDocuments(selector, update, arrayFilters, multi, upsert, oplog);
            } finally {
                runningUpdate = null;
            }
        }

        @Override
        public synchronized Document findAndModify(Document query) {
            runningUpdate = (Document) query.get("update");
            try {
                return super.findAndModify(query);
            } finally {
                runningUpdate = null;
            }
        }

        @Override
        protected void handleUpdate(Integer position, Document oldDocument, Document newDocument) {
            super.handleUpdate(position, oldDocument, newDocument);
            if (getIdField() == null) {   // system.indexes: no identity but the content
                log(DELETE, oldDocument, null);
                log(INSERT, newDocument, null);
                return;
            }
            boolean replacement = runningUpdate != null
                && runningUpdate.keySet().stream().noneMatch(key -> key.startsWith("$"));
            if (replacement) {
                log(REPLACE, newDocument, null);
            } else {
                log(UPDATE, newDocument, encode(describeUpdate(oldDocument, newDocument)));
            }
        }

        private static Document describeUpdate(Document before, Document after) {
            Document updated = new Document();
            after.forEach((key, value) -> {
                if (!before.containsKey(key) || !java.util.Objects.equals(before.get(key), value)) {
                    updated.put(key, value);
                }
            });
            List<String> removed = before.keySet().stream().filter(key -> !after.containsKey(key))
                .collect(Collectors.toList());
            return new Document("updatedFields", updated).append("removedFields", removed)
                .append("truncatedArrays", List.of());
        }

        @Override
        public synchronized void removeDocument(Document document) {
            super.removeDocument(document);
            log(DELETE, document, null);
        }

        @Override
        public synchronized void drop() {
            super.drop();
            backend.collections.remove(registeredAs, this);
            backend.log(new Rec(DROP, getFullName(), encode(new Document()), null, null));
        }

        @Override
        public synchronized void renameTo(MongoDatabase newDatabase, String newCollectionName) {
            String from = getFullName();
            super.renameTo(newDatabase, newCollectionName);
            backend.collections.remove(registeredAs, this);
            registeredAs = getFullName();
            backend.collections.put(registeredAs, this);
            backend.log(new Rec(RENAME, from, encode(new Document("to", registeredAs)), null, null));
        }

        @Override
        protected QueryResult queryDocuments(Document query, Document orderBy, int skip, int limit, int batchSize,
                                             Document fieldSelector) {
            String id = getIdField();
            if (id != null && query.size() > 1 && query.containsKey(id)) {
                Document byId = new Document(id, query.get(id));
                for (Index<Integer> index : getIndexes()) {
                    if (index.canHandle(byId)) {
                        return matchDocuments(query, index.getPositions(byId), orderBy, skip, limit, batchSize,
                            fieldSelector);
                    }
                }
            }
            return super.queryDocuments(query, orderBy, skip, limit, batchSize, fieldSelector);
        }

        synchronized Document findById(Object id) {
            for (Document document : queryDocuments(new Document(getIdField(), id), null, 0, 1, 0, null)) {
                return document.cloneDeeply();
            }
            return null;
        }

        // The documents as snapshot records, encoded a chunk at a time under the lock (updates
        // change documents in place), so writers wait only briefly and one chunk is in memory.
        Iterable<List<Rec>> snapshotChunks() {
            List<Document> documents = new ArrayList<>();
            String ns;
            synchronized (this) {
                ns = getFullName();
                for (Document document : queryDocuments(new Document(), null, 0, 0, 0, null)) {
                    documents.add(document);
                }
            }
            return () -> new java.util.Iterator<>() {
                int start;

                public boolean hasNext() {
                    return start < documents.size();
                }

                public List<Rec> next() {
                    List<Rec> chunk = new ArrayList<>(1000);
                    synchronized (DurableCollection.this) {
                        for (Document document : documents.subList(start, Math.min(documents.size(), start + 1000))) {
                            chunk.add(new Rec(SNAPSHOT_DOC, ns, encode(document), null, null));
                        }
                    }
                    start += 1000;
                    return chunk;
                }
            };
        }
    }

    // Reads a journal or snapshot file record by record, up to its end or its first bad record.
    static final class RecordReader implements AutoCloseable {
        private final FileChannel channel;
        private ByteBuffer buffer = ByteBuffer.allocate(8 << 20);
        private long valid;
        private boolean eof;

        RecordReader(Path file) throws IOException {
            channel = FileChannel.open(file, StandardOpenOption.READ);
            buffer.flip();
        }

        Rec next() throws IOException {
            while (true) {
                if (buffer.remaining() >= 8) {
                    int length = buffer.getInt(buffer.position());
                    if (length < 11 || length > (64 << 20)) {
                        return null;
                    }
                    if (length + 8 <= buffer.remaining()) {
                        int before = buffer.position();
                        Rec rec = Rec.readFrom(buffer);
                        valid += rec == null ? 0 : buffer.position() - before;
                        return rec;
                    }
                    if (length + 8 > buffer.capacity()) {
                        ByteBuffer bigger = ByteBuffer.allocate(length + 8);
                        bigger.put(buffer).flip();
                        buffer = bigger;
                    }
                }
                if (eof) {
                    return null;
                }
                buffer.compact();
                eof = channel.read(buffer) < 0;
                buffer.flip();
            }
        }

        long validLength() {
            return valid;
        }

        @Override
        public void close() throws IOException {
            channel.close();
        }
    }

    // ---------------------------------------------------------------------------------------
    // Recovery: the newest complete snapshot, then every journal segment from its cut.

    static final class Recovery {
        final Map<String, Map<Object, Document>> state = new HashMap<>();
        long nextSegment = 1;
        long lastTs;
        long snapshotBytes;
        long journalBytes;
        private long snapshotDocs;
        private long replayed;
        private long torn;

        Recovery(Path dir, ChangeOplog oplog) throws IOException {
            TreeMap<Long, Path> snapshots = new TreeMap<>();
            TreeMap<Long, Path> segments = new TreeMap<>();
            try (Stream<Path> files = Files.list(dir)) {
                for (Path file : files.collect(Collectors.toList())) {
                    String name = file.getFileName().toString();
                    if (name.endsWith(".tmp")) {
                        Files.delete(file);
                    } else if (name.startsWith("snapshot-")) {
                        snapshots.put(fileNumber(file), file);
                    } else if (name.startsWith("journal-")) {
                        segments.put(fileNumber(file), file);
                    }
                }
            }
            long from = 0;
            for (Long number : snapshots.descendingKeySet()) {
                if (loadSnapshot(snapshots.get(number), oplog)) {
                    from = number;
                    snapshotBytes = Files.size(snapshots.get(number));
                    break;
                }
                state.clear();
            }
            for (Map.Entry<Long, Path> segment : segments.tailMap(from, true).entrySet()) {
                replay(segment.getValue(), oplog);
                nextSegment = segment.getKey() + 1;
            }
            nextSegment = Math.max(nextSegment, from);
        }

        String summary() {
            return String.format("%d snapshot documents + %d journal records (%d torn bytes cut)",
                snapshotDocs, replayed, torn);
        }

        private boolean loadSnapshot(Path file, ChangeOplog oplog) throws IOException {
            long docs = 0;
            Rec rec;
            try (RecordReader in = new RecordReader(file)) {
            while ((rec = in.next()) != null) {
                if (rec.type == SNAPSHOT_END) {
                    snapshotDocs = docs;
                    lastTs = rec.ts;
                    oplog.lostUpTo(rec.ts);
                    return true;
                }
                apply(rec);
                docs++;
            }
            }
            System.err.println("snapshot " + file + " is incomplete; trying an older one");
            return false;
        }

        private void replay(Path file, ChangeOplog oplog) throws IOException {
            long valid;
            Rec rec;
            try (RecordReader in = new RecordReader(file)) {
            while ((rec = in.next()) != null) {
                Object id = apply(rec);
                Rec entry = new Rec(rec.type, rec.ns, rec.doc, rec.extra, id);
                entry.ts = rec.ts;
                oplog.add(entry);
                lastTs = Math.max(lastTs, rec.ts);
                replayed++;
            }
            valid = in.validLength();
            }
            journalBytes += valid;
            long size = Files.size(file);
            if (valid < size) {   // a torn last record: never acknowledged, cut it off
                torn += size - valid;
                try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
                    channel.truncate(valid);
                    channel.force(true);
                }
            }
            oplog.durableUpTo(lastTs);
        }

        // Applies one record to the recovered documents; returns the document's _id, if any.
        private Object apply(Rec rec) {
            switch (rec.type) {
                case DROP:
                    state.remove(rec.ns);
                    return null;
                case RENAME: {
                    Map<Object, Document> docs = state.remove(rec.ns);
                    String to = (String) decode(rec.doc).get("to");
                    if (docs != null) {   // else the snapshot already has it under its new name
                        state.put(to, docs);
                    }
                    return null;
                }
                default:
                    break;
            }
            String idField = idField(rec.ns);
            Document document = decode(rec.doc);
            Object id = idField == null ? null : document.get(idField);
            Object key = idField == null ? ByteBuffer.wrap(rec.doc) : idKey(id);
            Map<Object, Document> docs = state.computeIfAbsent(rec.ns, ns -> new LinkedHashMap<>());
            if (rec.type == DELETE) {
                docs.remove(key);
            } else {
                docs.put(key, document);
            }
            return id;
        }
    }
}
