package com.ssmas.yield.connectors.validation;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The parts of {@code schemas/auction_event.schema.json} that validation uses, read once.
 *
 * <p>Mirrors {@code schemas/events.py} {@code fields()}: the properties in schema order,
 * the first non-"null" entry of {@code type} as the JSON type, {@code required}, and the keywords
 * the SQL validation understands. Keywords the SQL would turn into nonsense for a type (minimum on
 * a string, enum on a number, ...) and unsupported types fail here, at load, rather than being
 * silently ignored.
 */
public final class EventSchema {

    /** The classpath resource connector/pom.xml copies from schemas/. */
    public static final String RESOURCE = "/auction_event.schema.json";

    /** JSON type of a schema property. */
    public enum JsonType {
        STRING,
        NUMBER,
        INTEGER,
        BOOLEAN
    }

    /** One schema property and its checks, with its reason strings built once. */
    public static final class Field {
        final String name;
        final int index;
        final JsonType type;
        final boolean required;
        /** Index of the boolean property named by {@code x-required-when}, or -1. */
        int requiredWhen = -1;

        final boolean hasMinimum;
        final double minimum;
        final boolean hasMaximum;
        final double maximum;
        final int minLength; // -1 when absent
        final int maxLength; // -1 when absent
        final Set<String> enumValues; // null when absent
        final Pattern pattern; // null when absent
        final boolean dateTime;

        final String missing;
        final String wrongType;
        final String outOfRange;
        final String unknownValue;

        private Field(String name, int index, JsonType type, boolean required, JsonNode spec) {
            this.name = name;
            this.index = index;
            this.type = type;
            this.required = required;
            boolean numeric = type == JsonType.NUMBER || type == JsonType.INTEGER;
            boolean string = type == JsonType.STRING;

            this.hasMinimum = spec.has("minimum");
            this.minimum = hasMinimum ? number(spec, "minimum", numeric) : Double.NaN;
            this.hasMaximum = spec.has("maximum");
            this.maximum = hasMaximum ? number(spec, "maximum", numeric) : Double.NaN;
            this.minLength = spec.has("minLength") ? length(spec, "minLength", string) : -1;
            this.maxLength = spec.has("maxLength") ? length(spec, "maxLength", string) : -1;
            if (spec.has("enum")) {
                require(string, "enum is only supported on string properties");
                Set<String> values = new HashSet<>();
                for (JsonNode v : spec.get("enum")) {
                    require(v.isTextual(), "enum values must be strings");
                    values.add(v.asText());
                }
                this.enumValues = Collections.unmodifiableSet(values);
            } else {
                this.enumValues = null;
            }
            if (spec.has("pattern")) {
                require(string, "pattern is only supported on string properties");
                // Compiled as Flink's REGEXP does (java.util.regex, no flags), used with find(),
                // but with JSON Schema's (ECMA-262) end anchor, see endAnchored.
                this.pattern = Pattern.compile(endAnchored(spec.get("pattern").asText()));
            } else {
                this.pattern = null;
            }
            this.dateTime = "date-time".equals(spec.path("format").asText(null));
            if (dateTime) {
                require(string, "format date-time is only supported on string properties");
            }
            this.missing = "MISSING_FIELD:" + name;
            this.wrongType = "WRONG_TYPE:" + name;
            this.outOfRange = "OUT_OF_RANGE:" + name;
            this.unknownValue = "UNKNOWN_VALUE:" + name;
        }

        private double number(JsonNode spec, String keyword, boolean allowed) {
            require(allowed, keyword + " is only supported on number and integer properties");
            require(spec.get(keyword).isNumber(), keyword + " must be a number");
            return spec.get(keyword).asDouble();
        }

        private int length(JsonNode spec, String keyword, boolean allowed) {
            require(allowed, keyword + " is only supported on string properties");
            require(spec.get(keyword).canConvertToInt(), keyword + " must be an integer");
            return spec.get(keyword).asInt();
        }

        private void require(boolean condition, String message) {
            if (!condition) {
                throw new IllegalArgumentException("schema property " + name + ": " + message);
            }
        }
    }

    /**
     * The pattern with a final {@code $} made {@code \z}: in JSON Schema (ECMA-262) {@code $}
     * is the end of the text, while Java's also matches before a final line terminator, which
     * let {@code "ES\n"} through {@code ^[A-Z]{2}$}. tests/support/validation_sql.py does the same.
     */
    public static String endAnchored(String pattern) {
        if (pattern.endsWith("$") && !pattern.endsWith("\\$")) {
            return pattern.substring(0, pattern.length() - 1) + "\\z";
        }
        return pattern;
    }

    final int maxRecordChars;
    final List<Field> fields;
    final Map<String, Integer> indexByName;

    private EventSchema(int maxRecordChars, List<Field> fields) {
        this.maxRecordChars = maxRecordChars;
        this.fields = Collections.unmodifiableList(fields);
        Map<String, Integer> byName = new HashMap<>();
        for (Field f : fields) {
            byName.put(f.name, f.index);
        }
        this.indexByName = byName;
    }

    /** Reads the schema bundled in the jar. */
    public static EventSchema fromClasspath() {
        try (InputStream in = EventSchema.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException(
                        "classpath resource " + RESOURCE + " not found (connector/pom.xml copies it from schemas/)");
            }
            return parse(new ObjectMapper().readTree(in));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + RESOURCE, e);
        }
    }

    /** Builds the rules from a parsed JSON schema document. */
    public static EventSchema parse(JsonNode schema) {
        JsonNode maxChars = schema.get("x-max-record-chars");
        if (maxChars == null || !maxChars.canConvertToInt()) {
            throw new IllegalArgumentException("schema: x-max-record-chars must be an integer");
        }
        Set<String> required = new HashSet<>();
        for (JsonNode r : schema.path("required")) {
            required.add(r.asText());
        }
        Map<String, JsonNode> specs = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = schema.get("properties").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            specs.put(e.getKey(), e.getValue());
        }
        List<Field> fields = new ArrayList<>();
        Map<String, Field> byName = new HashMap<>();
        for (Map.Entry<String, JsonNode> e : specs.entrySet()) {
            Field f = new Field(e.getKey(), fields.size(), jsonType(e.getKey(), e.getValue()),
                    required.contains(e.getKey()), e.getValue());
            fields.add(f);
            byName.put(f.name, f);
        }
        for (Field f : fields) {
            JsonNode when = specs.get(f.name).get("x-required-when");
            if (when != null) {
                Field condition = byName.get(when.asText());
                if (condition == null || condition.type != JsonType.BOOLEAN) {
                    throw new IllegalArgumentException("schema property " + f.name
                            + ": x-required-when must name a boolean property, got " + when);
                }
                f.requiredWhen = condition.index;
            }
        }
        return new EventSchema(maxChars.asInt(), fields);
    }

    private static JsonType jsonType(String name, JsonNode spec) {
        JsonNode type = spec.get("type");
        List<String> types = new ArrayList<>();
        if (type != null && type.isArray()) {
            type.forEach(t -> types.add(t.asText()));
        } else if (type != null) {
            types.add(type.asText());
        }
        for (String t : types) {
            if (!"null".equals(t)) {
                switch (t) {
                    case "string":
                        return JsonType.STRING;
                    case "number":
                        return JsonType.NUMBER;
                    case "integer":
                        return JsonType.INTEGER;
                    case "boolean":
                        return JsonType.BOOLEAN;
                    default:
                        throw new IllegalArgumentException(
                                "schema property " + name + ": type " + t + " is not supported");
                }
            }
        }
        throw new IllegalArgumentException("schema property " + name + ": no non-null type");
    }
}
