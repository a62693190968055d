SELECT venues.id, venues.merchant_id, venues.name, venues.timezone, venues.checkin_radius_m, ST_Distance(venues.location, CAST(ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), %(ST_SetSRID_1)s::INTEGER) AS geography(GEOMETRY,4326)), %(ST_Distance_1)s) AS distance, pg_advisory_xact_lock(%(lock)s::BIGINT) AS pg_advisory_xact_lock_1 
FROM venues 
WHERE venues.id = %(venue)s::UUID
