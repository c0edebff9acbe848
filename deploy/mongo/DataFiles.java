// Names of the journal segments and snapshots in the data dir, and forcing the dir itself.
package p2v.mongo;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

final class DataFiles {
    private DataFiles() {
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
}
