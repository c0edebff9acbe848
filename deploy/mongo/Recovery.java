// Recovery at start: the newest complete snapshot, then every journal segment from its cut.
package p2v.mongo;

import de.bwaldvogel.mongo.bson.Document;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static p2v.mongo.DataFiles.*;
import static p2v.mongo.Documents.*;
import static p2v.mongo.Rec.*;

final class Recovery {
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
