WITH taken AS 
(UPDATE deals SET committed_count=(deals.committed_count + %(quantity)s::INTEGER), status=CASE WHEN (deals.tipped_at IS NULL AND deals.committed_count + %(quantity)s::INTEGER >= deals.min_commitments) THEN %(param_8)s::VARCHAR WHEN (deals.status = %(status_1)s::VARCHAR) THEN %(param_9)s::VARCHAR ELSE deals.status END, tipped_at=CASE WHEN (deals.tipped_at IS NULL AND deals.committed_count + %(quantity)s::INTEGER >= deals.min_commitments) THEN %(now)s::TIMESTAMP WITH TIME ZONE ELSE deals.tipped_at END WHERE deals.id = %(commit_deal_id)s::UUID AND deals.status IN (__[POSTCOMPILE_status_2]) AND deals.starts_at <= %(now)s::TIMESTAMP WITH TIME ZONE AND deals.ends_at > %(now)s::TIMESTAMP WITH TIME ZONE AND (deals.max_commitments IS NULL OR deals.committed_count + %(quantity)s::INTEGER <= deals.max_commitments) RETURNING deals.id, deals.venue_id, deals.merchant_id, deals.title, deals.description, deals.price_cents, deals.original_price_cents, deals.currency, deals.min_commitments, deals.max_commitments, deals.per_user_limit, deals.committed_count, deals.status, deals.tipped_at, deals.starts_at, deals.ends_at, deals.redeem_until, deals.refund_days, deals.created_at, deals.referral, deals.new_customers_only, ST_Y(geometry(deals.location)) AS lat, ST_X(geometry(deals.location)) AS lon), 
joined AS 
(INSERT INTO deal_participants (deal_id, account_id, open_quantity) SELECT %(commit_deal_id)s::UUID AS anon_5, %(committer_id)s::UUID AS anon_6, %(quantity)s::INTEGER AS anon_7 
FROM taken 
WHERE %(quantity)s::INTEGER <= taken.per_user_limit ON CONFLICT (deal_id, account_id) DO UPDATE SET open_quantity = (deal_participants.open_quantity + excluded.open_quantity) WHERE deal_participants.open_quantity + excluded.open_quantity <= (SELECT taken.per_user_limit 
FROM taken) RETURNING deal_participants.open_quantity), 
referral AS 
(INSERT INTO referrals (deal_id, account_id, share_id, referrer_id) SELECT %(commit_deal_id)s::UUID AS anon_5, %(committer_id)s::UUID AS anon_6, shares.id AS id, shares.account_id AS account_id 
FROM shares 
WHERE shares.code = %(share_code)s::VARCHAR AND shares.deal_id = %(commit_deal_id)s::UUID AND shares.account_id != %(committer_id)s::UUID AND NOT (EXISTS (SELECT * 
FROM accounts 
WHERE accounts.id = shares.account_id AND accounts.deleted_at IS NOT NULL)) AND (EXISTS (SELECT joined.open_quantity 
FROM joined)) ON CONFLICT (deal_id, account_id) DO UPDATE SET share_id = referrals.share_id RETURNING referrals.share_id, referrals.referrer_id), 
attribution AS 
(SELECT referral.share_id AS share_id, referral.referrer_id AS referrer_id 
FROM referral UNION ALL SELECT referrals.share_id AS share_id, referrals.referrer_id AS referrer_id 
FROM referrals 
WHERE referrals.deal_id = %(commit_deal_id)s::UUID AND referrals.account_id = %(committer_id)s::UUID 
 LIMIT %(param_12)s::INTEGER), 
commitment AS 
(INSERT INTO commitments (id, deal_id, account_id, quantity, status, confirmed_at, share_id, referrer_id, share) SELECT %(new_commitment_id)s::UUID AS anon_4, %(commit_deal_id)s::UUID AS anon_5, %(committer_id)s::UUID AS anon_6, %(quantity)s::INTEGER AS anon_7, CASE WHEN (taken.tipped_at IS NOT NULL AND taken.committed_count - %(quantity)s::INTEGER >= taken.min_commitments) THEN %(param_10)s::VARCHAR ELSE %(param_11)s::VARCHAR END AS anon_8, CASE WHEN (taken.tipped_at IS NOT NULL AND taken.committed_count - %(quantity)s::INTEGER >= taken.min_commitments) THEN %(now)s::TIMESTAMP WITH TIME ZONE END AS anon_9, (SELECT attribution.share_id 
FROM attribution) AS anon_10, (SELECT attribution.referrer_id 
FROM attribution) AS anon_11, %(shared_with)s::VARCHAR AS anon_12 
FROM taken 
WHERE EXISTS (SELECT joined.open_quantity 
FROM joined) RETURNING commitments.id, commitments.deal_id, commitments.account_id, commitments.quantity, commitments.status, commitments.created_at), 
event AS 
(INSERT INTO outbox_events (kind, recipient_id, title, body, payload, dedupe_key) SELECT %(param_1)s::VARCHAR AS anon_1, anon_2.recipient_id AS recipient_id, anon_2.title AS title, anon_2.body AS body, anon_2.payload AS payload, anon_2.event_key || %(param_2)s::VARCHAR || CAST(anon_2.recipient_id AS VARCHAR) AS anon_3 
FROM (SELECT taken.merchant_id AS recipient_id, %(param_3)s::VARCHAR AS title, CAST(%(quantity)s::INTEGER AS VARCHAR) || %(param_4)s::VARCHAR || taken.title || %(param_5)s::VARCHAR || CAST(taken.committed_count AS VARCHAR) || %(param_6)s::VARCHAR AS body, jsonb_build_object(%(jsonb_build_object_1)s::VARCHAR, CAST(taken.id AS VARCHAR), %(jsonb_build_object_2)s::VARCHAR, taken.title, %(jsonb_build_object_3)s::VARCHAR, CAST(commitment.id AS VARCHAR), %(jsonb_build_object_4)s::VARCHAR, %(quantity)s::INTEGER, %(jsonb_build_object_5)s::VARCHAR, taken.committed_count) AS payload, %(param_7)s::VARCHAR || CAST(commitment.id AS VARCHAR) AS event_key 
FROM taken JOIN commitment ON true) AS anon_2 ON CONFLICT (dedupe_key) DO NOTHING), 
credited AS 
(UPDATE shares SET commitments=(shares.commitments + %(commitments_1)s::INTEGER), units=(shares.units + %(quantity)s::INTEGER) WHERE shares.id = (SELECT attribution.share_id 
FROM attribution) AND (EXISTS (SELECT commitment.id 
FROM commitment))), 
recent AS 
(INSERT INTO deal_commitment_minutes (deal_id, minute, units) SELECT commitment.deal_id AS deal_id, date_trunc(%(date_trunc_2)s::VARCHAR, commitment.created_at) AS date_trunc_1, commitment.quantity AS quantity 
FROM commitment ON CONFLICT (deal_id, minute) DO UPDATE SET units = (deal_commitment_minutes.units + excluded.units))
 SELECT taken.id, taken.venue_id, taken.merchant_id, taken.title, taken.description, taken.price_cents, taken.original_price_cents, taken.currency, taken.min_commitments, taken.max_commitments, taken.per_user_limit, taken.committed_count, taken.status, taken.tipped_at, taken.starts_at, taken.ends_at, taken.redeem_until, taken.refund_days, taken.created_at, taken.referral, taken.new_customers_only, taken.lat, taken.lon, joined.open_quantity, commitment.id AS commitment_id, commitment.status AS commitment_status, commitment.created_at AS commitment_created_at 
FROM taken LEFT OUTER JOIN joined ON true LEFT OUTER JOIN commitment ON true
