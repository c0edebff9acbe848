// BSON encoding of documents and the identity of a document within its namespace.
package p2v.mongo;

import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.wire.bson.BsonDecoder;
import io.netty.buffer.Unpooled;
import java.util.List;
import java.util.stream.Collectors;

final class Documents {
    private Documents() {
    }

    static byte[] encode(Document document) {
        return BsonWriter.encode(document);
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
            return ((List<?>) value).stream().map(Documents::idKey).collect(Collectors.toList());
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
}
