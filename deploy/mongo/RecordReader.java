// Reads a journal or snapshot file record by record, up to its end or its first bad record.
package p2v.mongo;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

final class RecordReader implements AutoCloseable {
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
