package com.ssmas.yield.connectors.validation;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.function.Consumer;

/** Hand-written auction events for the validation tests: one valid event, changed one field at a time. */
final class AuctionEvents {

    private static final ObjectMapper JSON = new ObjectMapper();

    private AuctionEvents() {}

    /** A filled auction that passes every check of schemas/auction_event.schema.json. */
    static ObjectNode validEvent() {
        ObjectNode e = JSON.createObjectNode();
        e.put("impression_id", "imp-0001");
        e.put("event_time", "2026-11-25T14:03:07.123Z");
        e.put("country", "DE");
        e.put("device_category", "mobile");
        e.put("format", "banner");
        e.put("inventory_type", "premium");
        e.put("domain", "news.example");
        e.put("ad_unit", "top-banner");
        e.put("bidder", "bidder-a");
        e.put("demand_channel", "open_auction");
        e.put("user_engagement_score", 0.5);
        e.put("device_performance_score", 0.8);
        e.put("historical_ctr_avg", 0.02);
        e.put("floor_price_eur", 0.4);
        e.put("bid_count", 3);
        e.put("top_bid_eur", 1.2);
        e.put("second_bid_eur", 0.9);
        e.put("filled", true);
        e.put("cpm_eur", 0.95);
        return e;
    }

    /** The valid event with one change, as the JSON text a producer would send. */
    static String validEventWith(Consumer<ObjectNode> change) {
        ObjectNode e = validEvent();
        change.accept(e);
        return e.toString();
    }

    static String validEventJson() {
        return validEvent().toString();
    }
}
