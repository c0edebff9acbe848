// A record: one change of one document (or of a collection), as journaled, snapshotted and kept in the oplog.
package p2v.mongo;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32C;

final class Rec {
    static final byte INSERT = 'i', REPLACE = 'r', UPDATE = 'u', DELETE = 'd', DROP = 'D', RENAME = 'R',
        SNAPSHOT_DOC = 'p', SNAPSHOT_END = 'E', ROTATE = '>';

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
