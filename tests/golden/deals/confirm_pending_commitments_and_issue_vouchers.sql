WITH confirmed AS 
(UPDATE commitments SET status=%(param_3)s::VARCHAR, confirmed_at=%(param_4)s::TIMESTAMP WITH TIME ZONE WHERE commitments.deal_id = %(deal_id_1)s::UUID AND commitments.status = %(status_1)s::VARCHAR RETURNING commitments.id, commitments.account_id, commitments.quantity, commitments.credit_cents), 
vouchers AS 
(INSERT INTO vouchers (deal_id, commitment_id, account_id, redeem_until, credit_cents) SELECT %(param_1)s::UUID AS anon_1, confirmed.id AS id, confirmed.account_id AS account_id, %(param_2)s::TIMESTAMP WITH TIME ZONE AS anon_2, least((SELECT deals.price_cents 
FROM deals 
WHERE deals.id = %(param_1)s::UUID), greatest(%(greatest_1)s::INTEGER, confirmed.credit_cents - (SELECT deals.price_cents 
FROM deals 
WHERE deals.id = %(param_1)s::UUID) * (unit - %(unit_1)s::INTEGER))) AS least_1 
FROM confirmed JOIN generate_series(%(generate_series_1)s::INTEGER, confirmed.quantity) AS unit ON true), 
queued AS 
(INSERT INTO referral_queue (commitment_id, deal_id) SELECT confirmed.id AS id, %(param_1)s::UUID AS anon_1 
FROM confirmed 
WHERE EXISTS (SELECT * 
FROM deals 
WHERE deals.id = %(param_1)s::UUID AND deals.referral IS NOT NULL))
 SELECT confirmed.account_id 
FROM confirmed
