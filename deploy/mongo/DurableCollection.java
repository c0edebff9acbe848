// A memory collection that journals every change of its documents, and answers _id-pinned and
// _id-$in filters from the _id index.
package p2v.mongo;

import de.bwaldvogel.mongo.MongoDatabase;
import de.bwaldvogel.mongo.backend.ArrayFilters;
import de.bwaldvogel.mongo.backend.CollectionOptions;
import de.bwaldvogel.mongo.backend.CursorRegistry;
import de.bwaldvogel.mongo.backend.Index;
import de.bwaldvogel.mongo.backend.QueryResult;
import de.bwaldvogel.mongo.backend.memory.MemoryCollection;
import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.oplog.Oplog;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

import static p2v.mongo.Documents.*;
import static p2v.mongo.Rec.*;

final class DurableCollection extends MemoryCollection {
    private final DurableBackend backend;
    private Document runningUpdate;   // the update spec being applied, under this collection's lock
    private String registeredAs;
    // Each document's state as last journaled since start-up, by _id as the unique index compares
    // it: a snapshot writes these bytes instead of encoding every document again (encoding was a
    // fifth of the server's CPU while a snapshot ran under the stream's load). The arrays are the
    // journal's and the oplog's own, so they cost memory only once the oplog has let them go.
    private final Map<Object, byte[]> journaled = new HashMap<>();

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
        if (idField != null) {
            if (type == DELETE) {
                journaled.remove(idKey(id));
            } else {
                journaled.put(idKey(id), bytes);
            }
        }
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
        Document inserted = upsert && !multi ? insertIfAbsent(selector, update) : null;
        if (inserted != null) {   // the library's answer to an upsert that inserted
            oplog.handleInsert(getFullName(), List.of(inserted));
            return new Document("upserted", inserted.get(getIdField())).append("n", 0).append("nModified", 0);
        }
        runningUpdate = update;
        try {
            return super.updateDocuments(selector, update, arrayFilters, multi, upsert, oplog);
        } finally {
            runningUpdate = null;
        }
    }

    // A replacement upsert whose filter pins an `_id` that no document has inserts the
    // replacement under that `_id`, whatever else the filter says; that is what the library ends
    // in, after matching the filter, deriving a document from it and deep-copying the
    // replacement into it (a sixth of the server's CPU for the stream's new playlists). Null,
    // and the library's path runs, for anything else (an operator update, a filter on no plain
    // `_id`, a replacement with another `_id`, a document that exists).
    private Document insertIfAbsent(Document selector, Document update) {
        String idField = getIdField();
        Object id = idField == null ? null : selector.get(idField);
        if (!plain(id) || update.keySet().stream().anyMatch(key -> key.startsWith("$"))
            || (update.containsKey(idField) && !id.equals(update.get(idField)))) {
            return null;
        }
        Document byId = new Document(idField, id);
        Index<Integer> index = indexFor(byId);
        if (index == null || index.getPosition(byId) != null) {
            return null;
        }
        Document document = new Document(idField, id);
        update.forEach((key, value) -> {
            if (!key.equals(idField)) {
                document.put(key, value);   // the command's own decoded values: nothing else holds them
            }
        });
        addDocument(document);
        return document;
    }

    private static boolean plain(Object id) {
        return id instanceof String || id instanceof Integer || id instanceof Long
            || (id instanceof Document && !((Document) id).isEmpty()
                && ((Document) id).entrySet().stream().allMatch(
                    field -> !field.getKey().startsWith("$") && plain(field.getValue())));
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
        journaled.clear();
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
        if (id != null && query.containsKey(id)) {
            List<Object> keys = inKeys(query.get(id));
            if (keys != null) {
                return byIds(query, keys, orderBy, skip, limit, batchSize, fieldSelector);
            }
        }
        if (id != null && query.size() > 1 && query.containsKey(id)) {
            Document byId = new Document(id, query.get(id));
            Index<Integer> index = indexFor(byId);
            if (index != null) {
                return matchDocuments(query, index.getPositions(byId), orderBy, skip, limit, batchSize,
                    fieldSelector);
            }
        }
        return super.queryDocuments(query, orderBy, skip, limit, batchSize, fieldSelector);
    }

    private Index<Integer> indexFor(Document byId) {
        for (Index<Integer> index : getIndexes()) {
            if (index.canHandle(byId)) {
                return index;
            }
        }
        return null;
    }

    // The keys of an `_id: {$in: [...]}` filter, when each is a plain value (no regex, null or
    // operator document): those are answered by one index lookup per key. The library matches
    // every candidate against the whole list, which costs O(keys^2): 0.3 s for 1,000 keys.
    private static List<Object> inKeys(Object condition) {
        if (!(condition instanceof Document) || ((Document) condition).size() != 1) {
            return null;
        }
        Object in = ((Document) condition).get("$in");
        if (!(in instanceof Collection)) {
            return null;
        }
        List<Object> keys = new ArrayList<>();
        for (Object key : (Collection<?>) in) {
            boolean plain = key instanceof Number || key instanceof String
                || (key instanceof Document && ((Document) key).keySet().stream().noneMatch(k -> k.startsWith("$")));
            if (!plain) {
                return null;
            }
            keys.add(key);
        }
        return keys;
    }

    private QueryResult byIds(Document query, List<Object> keys, Document orderBy, int skip, int limit,
                              int batchSize, Document fieldSelector) {
        String id = getIdField();
        Index<Integer> idIndex = indexFor(new Document(id, keys.isEmpty() ? 0 : keys.get(0)));
        if (idIndex == null) {
            return super.queryDocuments(query, orderBy, skip, limit, batchSize, fieldSelector);
        }
        Set<Integer> positions = new LinkedHashSet<>();
        for (Object key : keys) {
            for (Integer position : idIndex.getPositions(new Document(id, key))) {
                positions.add(position);
            }
        }
        Document rest = new Document(query);
        rest.remove(id);
        return matchDocuments(rest, positions, orderBy, skip, limit, batchSize, fieldSelector);
    }

    synchronized Document findById(Object id) {
        for (Document document : queryDocuments(new Document(getIdField(), id), null, 0, 1, 0, null)) {
            return document.cloneDeeply();
        }
        return null;
    }

    // The documents as snapshot records, a chunk at a time under the lock (updates change
    // documents in place), so writers wait only briefly and one chunk is in memory. A document
    // is written as last journaled; one not written since start-up (recovered) is encoded.
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
                        chunk.add(new Rec(SNAPSHOT_DOC, ns, encoded(document), null, null));
                    }
                }
                start += 1000;
                return chunk;
            }
        };
    }

    private byte[] encoded(Document document) {
        String idField = getIdField();
        byte[] bytes = idField == null ? null : journaled.get(idKey(document.get(idField)));
        return bytes != null ? bytes : encode(document);
    }
}
