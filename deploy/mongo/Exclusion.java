// A change stream's leading `$project` stages that only exclude fields (at most one level below
// the event's top), applied while the event is built. The library's `$project` deep-copies each
// event and splits every path by regex: with serving following playlist_vectors through such a
// projection, a fifth of the server's CPU under stream load went to it.
package p2v.mongo;

import de.bwaldvogel.mongo.bson.Document;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

final class Exclusion {
    private final Set<String> top = new HashSet<>();
    private final Map<String, Set<String>> nested = new HashMap<>();

    private Exclusion() {
    }

    // Takes the exclusion-only `$project` stages right after `$changeStream` out of an aggregate
    // command's pipeline and returns what they exclude; null (the command untouched) when there
    // are none or one of them does anything else, which the library's stages then run.
    static Exclusion take(Document command) {
        Object value = command.get("pipeline");
        if (!(value instanceof List) || ((List<?>) value).isEmpty()) {
            return null;
        }
        List<?> pipeline = (List<?>) value;
        if (!(pipeline.get(0) instanceof Document) || !((Document) pipeline.get(0)).containsKey("$changeStream")) {
            return null;
        }
        Exclusion exclusion = new Exclusion();
        int end = 1;
        while (end < pipeline.size() && exclusion.add(pipeline.get(end))) {
            end++;
        }
        if (end == 1) {
            return null;
        }
        command.put("pipeline", concat(pipeline.subList(0, 1), pipeline.subList(end, pipeline.size())));
        return exclusion;
    }

    private static List<Object> concat(List<?> head, List<?> tail) {
        List<Object> joined = new java.util.ArrayList<>(head);
        joined.addAll(tail);
        return joined;
    }

    // Adds a stage if it is `{$project: {path: 0 | false, ...}}` with paths of one or two parts.
    private boolean add(Object stage) {
        if (!(stage instanceof Document) || ((Document) stage).size() != 1
            || !(((Document) stage).get("$project") instanceof Document)) {
            return false;
        }
        Document projection = (Document) ((Document) stage).get("$project");
        if (projection.isEmpty()) {   // refused, as MongoDB refuses it: the library's stage says so
            return false;
        }
        for (Map.Entry<String, Object> field : projection.entrySet()) {
            Object flag = field.getValue();
            boolean excluded = Boolean.FALSE.equals(flag)
                || (flag instanceof Number && ((Number) flag).doubleValue() == 0);
            String[] parts = field.getKey().split("\\.", -1);
            if (!excluded || parts.length > 2 || field.getKey().startsWith("$") || field.getKey().equals("_id")) {
                return false;
            }
        }
        for (String path : projection.keySet()) {
            int dot = path.indexOf('.');
            if (dot < 0) {
                top.add(path);
            } else {
                nested.computeIfAbsent(path.substring(0, dot), k -> new HashSet<>()).add(path.substring(dot + 1));
            }
        }
        return true;
    }

    // Removes the excluded fields from an event built for this cursor (its own documents).
    Document apply(Document event) {
        for (String field : top) {
            event.remove(field);
        }
        nested.forEach((field, names) -> {
            Object inner = event.get(field);
            if (inner instanceof Document) {
                for (String name : names) {
                    ((Document) inner).remove(name);
                }
            }
        });
        return event;
    }
}
