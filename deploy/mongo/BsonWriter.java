// BSON encoding of documents into a plain byte array, for the journal and the oplog: every
// write encodes its document once more here, and the library's encoder (a bounds-checked Netty
// buffer, and a new Document of "0", "1", ... keys for every array) took a third of the server's
// CPU under the stream's load. The common types are written directly; any other value goes
// through the library's own encoder, so the bytes are what the library writes and reads.
package p2v.mongo;

import de.bwaldvogel.mongo.wire.BsonConstants;
import de.bwaldvogel.mongo.wire.bson.BsonEncoder;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Arrays;
import java.util.Collection;
import java.util.Map;

final class BsonWriter {
    private static final int KEPT_CAPACITY = 1 << 20;   // a larger buffer is not kept between calls
    private static final ThreadLocal<BsonWriter> WRITERS = ThreadLocal.withInitial(BsonWriter::new);
    private static final String[] INDEX_KEYS = new String[1024];

    static {
        for (int i = 0; i < INDEX_KEYS.length; i++) {
            INDEX_KEYS[i] = String.valueOf(i);
        }
    }

    private byte[] bytes = new byte[4096];
    private int size;

    private BsonWriter() {
    }

    static byte[] encode(Map<String, ?> document) {
        BsonWriter writer = WRITERS.get();
        writer.size = 0;
        writer.document(document);
        byte[] encoded = Arrays.copyOf(writer.bytes, writer.size);
        if (writer.bytes.length > KEPT_CAPACITY) {
            writer.bytes = new byte[4096];
        }
        return encoded;
    }

    private void document(Map<String, ?> document) {
        int start = size;
        int32(0);   // the length, written when known
        for (Map.Entry<String, ?> entry : document.entrySet()) {
            value(entry.getKey(), entry.getValue());
        }
        finish(start);
    }

    private void array(Collection<?> values) {
        int start = size;
        int32(0);
        int i = 0;
        for (Object value : values) {
            value(i < INDEX_KEYS.length ? INDEX_KEYS[i] : String.valueOf(i), value);
            i++;
        }
        finish(start);
    }

    private void finish(int start) {
        byte1(BsonConstants.TERMINATING_BYTE);
        int end = size;
        size = start;
        int32(end - start);
        size = end;
    }

    @SuppressWarnings("unchecked")
    private void value(String key, Object value) {
        byte type = BsonEncoder.determineType(value);
        byte1(type);
        cstring(key);
        switch (type) {
            case BsonConstants.TYPE_UTF8_STRING -> string((String) value);
            case BsonConstants.TYPE_EMBEDDED_DOCUMENT -> document((Map<String, ?>) value);
            case BsonConstants.TYPE_ARRAY -> array((Collection<?>) value);
            case BsonConstants.TYPE_INT32 -> int32((Integer) value);
            case BsonConstants.TYPE_INT64 -> int64((Long) value);
            case BsonConstants.TYPE_DOUBLE -> int64(Double.doubleToRawLongBits((Double) value));
            case BsonConstants.TYPE_BOOLEAN -> byte1((Boolean) value
                ? BsonConstants.BOOLEAN_VALUE_TRUE : BsonConstants.BOOLEAN_VALUE_FALSE);
            case BsonConstants.TYPE_UTC_DATETIME -> int64(((Instant) value).toEpochMilli());
            case BsonConstants.TYPE_NULL -> { }
            default -> library(type, value);   // binary, ObjectId, timestamp, decimal, regex, keys, code
        }
    }

    private void library(byte type, Object value) {
        ByteBuf buf = Unpooled.buffer(64);
        BsonEncoder.encodeValue(type, value, buf);
        int n = buf.readableBytes();
        ensure(n);
        buf.readBytes(bytes, size, n);
        size += n;
    }

    private void string(String value) {
        byte[] utf8 = value.getBytes(StandardCharsets.UTF_8);
        int32(utf8.length + 1);
        raw(utf8);
        byte1(BsonConstants.STRING_TERMINATION);
    }

    private void cstring(String value) {
        raw(value.getBytes(StandardCharsets.UTF_8));
        byte1(BsonConstants.STRING_TERMINATION);
    }

    private void raw(byte[] data) {
        ensure(data.length);
        System.arraycopy(data, 0, bytes, size, data.length);
        size += data.length;
    }

    private void byte1(byte value) {
        ensure(1);
        bytes[size++] = value;
    }

    private void int32(int value) {
        ensure(4);
        for (int shift = 0; shift < 32; shift += 8) {
            bytes[size++] = (byte) (value >>> shift);
        }
    }

    private void int64(long value) {
        ensure(8);
        for (int shift = 0; shift < 64; shift += 8) {
            bytes[size++] = (byte) (value >>> shift);
        }
    }

    private void ensure(int more) {
        if (size + more > bytes.length) {
            bytes = Arrays.copyOf(bytes, Math.max(bytes.length * 2, size + more));
        }
    }
}
