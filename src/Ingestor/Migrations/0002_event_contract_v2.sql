-- Event contract version 2: the Segment call type, skew-correction inputs, typed context for
-- breakdowns, and identify/group traits and alias links for identity resolution.
ALTER TABLE {database}.raw_events
    ADD COLUMN event_type String DEFAULT 'track' AFTER event_id,
    ADD COLUMN event_version String DEFAULT '' AFTER event_name,
    ADD COLUMN original_time DateTime('UTC') DEFAULT event_time AFTER event_time_ms,
    ADD COLUMN sent_at DateTime('UTC') DEFAULT toDateTime(0, 'UTC') AFTER original_time,
    ADD COLUMN app_version String DEFAULT '' AFTER context,
    ADD COLUMN os String DEFAULT '' AFTER app_version,
    ADD COLUMN device String DEFAULT '' AFTER os,
    ADD COLUMN locale String DEFAULT '' AFTER device,
    ADD COLUMN timezone String DEFAULT '' AFTER locale,
    ADD COLUMN country String DEFAULT '' AFTER timezone,
    ADD COLUMN library String DEFAULT '' AFTER country,
    ADD COLUMN page String DEFAULT '' AFTER library,
    ADD COLUMN user_agent String DEFAULT '' AFTER page,
    ADD COLUMN traits String DEFAULT '{}' AFTER user_agent,
    ADD COLUMN previous_id String DEFAULT '' AFTER traits,
    ADD COLUMN group_id String DEFAULT '' AFTER previous_id;
