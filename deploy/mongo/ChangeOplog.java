// The oplog: the records in time order, read by change-stream cursors from their own position.
package p2v.mongo;

import de.bwaldvogel.mongo.backend.AbstractCursor;
import de.bwaldvogel.mongo.backend.Cursor;
import de.bwaldvogel.mongo.backend.CursorRegistry;
import de.bwaldvogel.mongo.backend.aggregation.Aggregation;
import de.bwaldvogel.mongo.bson.BsonTimestamp;
import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.exception.MongoServerError;
import de.bwaldvogel.mongo.oplog.Oplog;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static p2v.mongo.Documents.*;
import static p2v.mongo.Rec.*;

final class ChangeOplog implements Oplog {
    private final ConcurrentSkipListMap<Long, Rec> entries = new ConcurrentSkipListMap<>();
    private final int maxEntries;
    private final long maxBytes;
    private int count;
    private long bytes;
    private volatile long lostUpTo = -1;   // entries up to this timestamp are gone (-1: none)
    private volatile long visibleTs;       // entries up to this timestamp are on disk
    DurableBackend backend;
    CursorRegistry cursors;
    // the exclusions DurableBackend took out of the aggregate command this thread runs
    static final ThreadLocal<Exclusion> EXCLUSION = new ThreadLocal<>();

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
            EXCLUSION.get(), aggregation.getStages().isEmpty() ? null : aggregation);
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
        private final Exclusion exclusion;
        private final Aggregation stages;
        private volatile long position;   // the last timestamp examined

        ChangeCursor(long id, String namespace, long position, boolean lookup, Exclusion exclusion,
                     Aggregation stages) {
            super(id);
            this.namespace = namespace;
            this.position = position;
            this.lookup = lookup;
            this.exclusion = exclusion;
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
            if (exclusion != null) {
                events = events.map(event -> event == null ? null : exclusion.apply(event));
            }
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
