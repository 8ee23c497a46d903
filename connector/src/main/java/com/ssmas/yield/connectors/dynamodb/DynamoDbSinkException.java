package com.ssmas.yield.connectors.dynamodb;

/** A DynamoDB write failure that fails the job. */
public class DynamoDbSinkException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    public DynamoDbSinkException(String message, Throwable cause) {
        super(message, cause);
    }
}
