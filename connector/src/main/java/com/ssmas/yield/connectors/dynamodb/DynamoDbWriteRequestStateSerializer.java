package com.ssmas.yield.connectors.dynamodb;

import org.apache.flink.connector.base.sink.writer.AsyncSinkWriterStateSerializer;
import org.apache.flink.connector.base.sink.writer.BufferedRequestState;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/** Checkpoint form of the sink writer's buffer (entries still waiting to be written). */
public class DynamoDbWriteRequestStateSerializer
        extends AsyncSinkWriterStateSerializer<DynamoDbWriteRequest> {

    private static final int VERSION = 1;
    private static final int ENTRY_VERSION = 1;

    /**
     * The base class reads any version it is given; state written by a future layout must fail
     * the restore with a clear message instead of being misread.
     */
    @Override
    public BufferedRequestState<DynamoDbWriteRequest> deserialize(int version, byte[] serialized)
            throws IOException {
        if (version != VERSION) {
            throw new IOException("Unknown DynamoDB sink writer state version " + version);
        }
        return super.deserialize(version, serialized);
    }

    @Override
    protected void serializeRequestToStream(DynamoDbWriteRequest request, DataOutputStream out)
            throws IOException {
        out.writeByte(ENTRY_VERSION);
        out.writeByte(request.getType().ordinal());
        writeString(out, request.getDedupKey());
        out.writeInt(request.size());
        for (int i = 0; i < request.size(); i++) {
            writeString(out, request.name(i));
            out.writeByte(request.kind(i));
            writeString(out, request.value(i));
        }
    }

    @Override
    protected DynamoDbWriteRequest deserializeRequestFromStream(long requestSize, DataInputStream in)
            throws IOException {
        int version = in.readByte();
        if (version != ENTRY_VERSION) {
            throw new IOException("Unknown DynamoDB buffered request version " + version);
        }
        DynamoDbWriteRequest.Type type = DynamoDbWriteRequest.Type.values()[in.readByte()];
        String dedupKey = readString(in);
        int n = in.readInt();
        String[] names = new String[n];
        byte[] kinds = new byte[n];
        String[] values = new String[n];
        for (int i = 0; i < n; i++) {
            names[i] = readString(in);
            kinds[i] = in.readByte();
            values[i] = readString(in);
        }
        return new DynamoDbWriteRequest(type, names, kinds, values, dedupKey);
    }

    @Override
    public int getVersion() {
        return VERSION;
    }

    private static void writeString(DataOutputStream out, String s) throws IOException {
        if (s == null) {
            out.writeInt(-1);
            return;
        }
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        out.writeInt(bytes.length);
        out.write(bytes);
    }

    private static String readString(DataInputStream in) throws IOException {
        int len = in.readInt();
        if (len < 0) {
            return null;
        }
        byte[] bytes = new byte[len];
        in.readFully(bytes);
        return new String(bytes, StandardCharsets.UTF_8);
    }
}
