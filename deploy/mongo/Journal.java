// The journal: records appended under the caller's collection lock, group-committed by one writer thread.
package p2v.mongo;

import de.bwaldvogel.mongo.exception.MongoServerException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

import static p2v.mongo.DataFiles.*;
import static p2v.mongo.Rec.*;

final class Journal implements Runnable {
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
