"""The SQL of referral credit: the queue the confirming statements write, the earning and
settling sweeps, and the ledger transactions of each movement of credit.

Every movement is a ledger transaction of two entries, keyed by the movement and the credit
(`credit-earn:<credit id>`, ...), written by the same statement that moves the credit:
earned credit is the merchant's marketing cost (merchant_payable up, the holder's pending
credit down: owed to them); available moves it from pending to referral_credit; a reversal
and an expiry are the counter-movement back to the merchant of the deal that earned it.
"""

from sqlalchemy import insert, select, text

from payments.models import EntryKind, LedgerAccount
from referrals.models import ReferralQueue

_HOLDER_ACCOUNTS = f"('{LedgerAccount.REFERRAL_CREDIT}', '{LedgerAccount.REFERRAL_CREDIT_PENDING}')"


def _ledger(source: str, kind: EntryKind, key: str, debited: str, credited: str) -> str:
    """A CTE body recording one balanced transaction per credit of CTE `source` (id,
    account_id, deal_id, amount_cents): `debited` (an SQL expression naming an account) goes
    up by the amount, `credited` down; the credit accounts' lines name the holder."""
    return f"""
    INSERT INTO ledger_entries (transaction_key, kind, account, amount_cents, currency, deal_id,
                                merchant_id, holder_id, credit_id, created_at)
    SELECT '{key}:' || m.id::text, '{kind}', line.account, line.sign * m.amount_cents,
           d.currency, m.deal_id, d.merchant_id,
           CASE WHEN line.account IN {_HOLDER_ACCOUNTS} THEN m.account_id END, m.id, :now
    FROM {source} m JOIN deals d ON d.id = m.deal_id
    CROSS JOIN LATERAL (VALUES ({debited}, 1), ({credited}, -1)) AS line(account, sign)
    ON CONFLICT (transaction_key, account) DO NOTHING
    """


_PAYABLE = f"'{LedgerAccount.MERCHANT_PAYABLE}'"
_PENDING = f"'{LedgerAccount.REFERRAL_CREDIT_PENDING}'"
_AVAILABLE = f"'{LedgerAccount.REFERRAL_CREDIT}'"


def queue_for_credit(confirmed, deal_id, has_referral):
    """INSERT the commitments of `confirmed` (a CTE with `id`) into the referral queue when
    `has_referral` (a condition: the deal has referral terms), for a confirming statement to
    embed as a CTE. Without referral terms it inserts nothing."""
    return insert(ReferralQueue).from_select(
        ["commitment_id", "deal_id"], select(confirmed.c.id, deal_id).where(has_referral)
    )


# Credit for the units of a batch of queued commitments, in one statement: commission credit
# for each referred unit, bring_friends credit for the sharer's own units once enough distinct
# friends hold confirmed units through the share, both never for the merchant, never for a
# referred account that shares a device with the referrer and registered after the share, and
# never (with `new_customers_only`) for one that had bought from the merchant before. Each
# account's credit is cut at its lifetime cap in voucher order; the caller holds the job's
# advisory lock, so no other run reads the same earnings. One credit per voucher (unique).
EARN_CREDIT = text(
    """
WITH batch AS (
    SELECT c.*, d.merchant_id, d.price_cents, d.referral, d.new_customers_only,
           d.per_user_limit
    FROM commitments c JOIN deals d ON d.id = c.deal_id
    WHERE c.id = ANY(CAST(:commitment_ids AS uuid[])) AND d.referral IS NOT NULL
),
attributed AS (  -- commitments through a share whose referred account may earn it credit
    SELECT c.id, c.deal_id, c.account_id, c.share_id, c.referrer_id, c.status
    FROM commitments c
    JOIN deals d ON d.id = c.deal_id
    JOIN shares s ON s.id = c.share_id
    JOIN accounts referred ON referred.id = c.account_id
    WHERE c.share_id IS NOT NULL
      AND c.deal_id IN (SELECT deal_id FROM batch)
      AND c.referrer_id <> d.merchant_id
      AND NOT (referred.created_at > s.created_at AND EXISTS (
          SELECT 1 FROM device_holders mine
          JOIN device_holders theirs ON theirs.token_digest = mine.token_digest
          WHERE mine.account_id = c.referrer_id AND theirs.account_id = c.account_id))
      AND NOT (d.new_customers_only AND EXISTS (
          SELECT 1 FROM commitments earlier JOIN deals other ON other.id = earlier.deal_id
          WHERE earlier.account_id = c.account_id AND other.merchant_id = d.merchant_id
            AND other.id <> d.id AND earlier.confirmed_at < c.created_at))
),
commission AS (
    SELECT v.id AS voucher_id, v.created_at, b.referrer_id AS holder_id, b.deal_id,
           b.share_id, 'commission' AS kind,
           (b.price_cents * (b.referral ->> 'percent')::int + 50) / 100 AS amount
    FROM batch b
    JOIN attributed a ON a.id = b.id
    JOIN vouchers v ON v.commitment_id = b.id
    WHERE b.referral ->> 'kind' = 'commission' AND v.status IN ('issued', 'redeemed')
),
qualified AS (  -- shares of bring_friends deals in the batch that brought enough friends
    SELECT s.id AS share_id, s.account_id AS holder_id, s.deal_id
    FROM shares s
    JOIN deals d ON d.id = s.deal_id
    WHERE s.deal_id IN (SELECT deal_id FROM batch WHERE referral ->> 'kind' = 'bring_friends')
      AND s.account_id <> d.merchant_id
      AND (SELECT count(DISTINCT a.account_id) FROM attributed a
           WHERE a.share_id = s.id AND a.status = 'confirmed')
          >= (d.referral ->> 'friends')::int
),
own_units AS (
    SELECT v.id AS voucher_id, v.created_at, q.holder_id, q.deal_id, q.share_id,
           'bring_friends' AS kind, d.price_cents AS amount,
           row_number() OVER (PARTITION BY q.share_id ORDER BY v.created_at, v.id) AS unit,
           d.per_user_limit
    FROM qualified q
    JOIN deals d ON d.id = q.deal_id
    JOIN vouchers v ON v.deal_id = q.deal_id AND v.account_id = q.holder_id
    WHERE v.status IN ('issued', 'redeemed')
),
candidates AS (
    SELECT voucher_id, created_at, holder_id, deal_id, share_id, kind, amount FROM commission
    UNION ALL
    SELECT voucher_id, created_at, holder_id, deal_id, share_id, kind, amount FROM own_units
    WHERE unit <= per_user_limit
),
fresh AS (
    SELECT c.* FROM candidates c
    WHERE c.amount > 0 AND NOT EXISTS (SELECT 1 FROM credits WHERE voucher_id = c.voucher_id)
),
capped AS (
    SELECT f.*, LEAST(f.amount, GREATEST(
        :cap - coalesce(e.earned_cents, 0)
        - (sum(f.amount) OVER (PARTITION BY f.holder_id ORDER BY f.created_at, f.voucher_id
                               ROWS UNBOUNDED PRECEDING) - f.amount), 0)) AS granted
    FROM fresh f LEFT JOIN referral_earnings e ON e.account_id = f.holder_id
),
granted AS (
    INSERT INTO credits (account_id, kind, amount_cents, deal_id, voucher_id, share_id,
                         created_at)
    SELECT holder_id, kind, granted, deal_id, voucher_id, share_id, :now
    FROM capped WHERE granted > 0
    ON CONFLICT (voucher_id) WHERE split_from IS NULL DO NOTHING
    RETURNING id, account_id, deal_id, amount_cents
),
booked AS ("""
    + _ledger("granted", EntryKind.REFERRAL_COMMISSION, "credit-earn", _PAYABLE, _PENDING)
    + """),
earned AS (
    INSERT INTO referral_earnings (account_id, earned_cents)
    SELECT account_id, sum(amount_cents) FROM granted GROUP BY account_id
    ON CONFLICT (account_id)
    DO UPDATE SET earned_cents = referral_earnings.earned_cents + excluded.earned_cents
)
SELECT account_id, deal_id, sum(amount_cents) AS amount_cents, min(id::text) AS first_credit
FROM granted GROUP BY account_id, deal_id
"""
)

# Credit whose unit is gone (void: released with its deal; refunded; expired unredeemed:
# never bought, as nothing is paid before the venue without online payments) is reversed, and
# leaves the account's lifetime earnings; also when it was available or spent already (the
# holder's available balance may then go below zero: the credit was used and is owed back).
REVERSE_CREDIT = text(
    """
WITH reversed AS (
    UPDATE credits SET status = 'reversed', settled_at = :now
    FROM vouchers v, credits was
    WHERE v.id = credits.voucher_id AND was.id = credits.id
      AND credits.status IN ('pending', 'available', 'spent')
      AND v.status IN ('void', 'expired', 'refunded')
    RETURNING credits.id, credits.account_id, credits.deal_id, credits.amount_cents,
              was.status AS was
),
booked AS ("""
    + _ledger(
        "reversed",
        EntryKind.REFERRAL_COMMISSION,
        "credit-reverse",
        f"CASE m.was WHEN 'pending' THEN {_PENDING} ELSE {_AVAILABLE} END",
        _PAYABLE,
    )
    + """),
unearned AS (
    UPDATE referral_earnings e SET earned_cents = e.earned_cents - r.amount_cents
    FROM (SELECT account_id, sum(amount_cents) AS amount_cents FROM reversed
          GROUP BY account_id) r
    WHERE e.account_id = r.account_id
)
SELECT account_id, deal_id, sum(amount_cents) AS amount_cents, min(id::text) AS first_credit
FROM reversed GROUP BY account_id, deal_id
"""
)

# Pending credit whose unit was bought for good becomes available for a while: redeemed (paid
# at the venue), or paid online and past the deal's refund days.
RELEASE_CREDIT = text(
    """
WITH released AS (
    UPDATE credits SET status = 'available', available_at = :now, expires_at = :expires_at
    FROM vouchers v
    WHERE v.id = credits.voucher_id AND credits.status = 'pending'
      AND (v.status = 'redeemed' OR (v.status = 'issued' AND EXISTS (
          SELECT 1 FROM payments p JOIN deals d ON d.id = p.deal_id
          WHERE p.commitment_id = v.commitment_id AND p.status = 'captured'
            AND p.captured_at + make_interval(days => d.refund_days) <= :now)))
    RETURNING credits.id, credits.account_id, credits.deal_id, credits.amount_cents
),
booked AS ("""
    + _ledger("released", EntryKind.CREDIT_AVAILABLE, "credit-available", _PENDING, _AVAILABLE)
    + """)
SELECT account_id, deal_id, sum(amount_cents) AS amount_cents, min(id::text) AS first_credit
FROM released GROUP BY account_id, deal_id
"""
)

# Available credit not spent within its lifetime expires and goes back to the merchant whose
# deal earned it (the marketing cost it paid is returned, as with a reversal).
EXPIRE_CREDIT = text(
    """
WITH expired AS (
    UPDATE credits SET status = 'expired', settled_at = :now
    WHERE status = 'available' AND expires_at <= :now
    RETURNING id, account_id, deal_id, amount_cents
),
booked AS ("""
    + _ledger("expired", EntryKind.REFERRAL_COMMISSION, "credit-expire", _AVAILABLE, _PAYABLE)
    + """)
SELECT count(*) FROM expired
"""
)

# Credit spent on commitments whose units were not bought after all comes back, once (the
# ledger keys): the counter-entry of each spend, and the credit available again (one reversed
# meanwhile stays reversed; its debt is settled). Never for a commitment with a redeemed unit.
RESTORE_CREDIT = text(
    """
WITH spent AS (
    SELECT c.id, c.account_id, c.amount_cents, c.spent_on, e.deal_id, e.merchant_id,
           e.currency, e.payment_id
    FROM credits c
    JOIN ledger_entries e
      ON e.transaction_key = 'credit-spend:' || c.spent_on::text || ':' || c.id::text
     AND e.account = 'credit_applied'
    WHERE c.spent_on = ANY(CAST(:commitment_ids AS uuid[]))
      AND NOT EXISTS (SELECT 1 FROM vouchers v
                      WHERE v.commitment_id = c.spent_on AND v.status = 'redeemed')
    FOR UPDATE OF c
),
booked AS (
    INSERT INTO ledger_entries (transaction_key, kind, account, amount_cents, currency, deal_id,
                                merchant_id, holder_id, credit_id, payment_id, created_at)
    SELECT 'credit-restore:' || s.spent_on::text || ':' || s.id::text, 'credit_restored',
           line.account, line.sign * s.amount_cents, s.currency, s.deal_id, s.merchant_id,
           CASE WHEN line.account = 'referral_credit' THEN s.account_id END, s.id,
           s.payment_id, :now
    FROM spent s
    CROSS JOIN LATERAL (VALUES ('credit_applied', 1), ('referral_credit', -1))
        AS line(account, sign)
    ON CONFLICT (transaction_key, account) DO NOTHING
),
back AS (
    UPDATE credits
    SET status = CASE WHEN credits.status = 'spent' THEN 'available' ELSE credits.status END,
        spent_on = NULL
    FROM spent WHERE credits.id = spent.id
)
SELECT coalesce(sum(amount_cents), 0) FROM spent
"""
)

# The credit applied to a commitment paid at the venue, spread over its vouchers in order,
# each paying at most its price.
ALLOCATE_VOUCHER_CREDIT = text(
    """
UPDATE vouchers v
SET credit_cents = LEAST(d.price_cents,
                         GREATEST(0, c.credit_cents - d.price_cents * (o.unit - 1)))
FROM (SELECT id, row_number() OVER (ORDER BY created_at, id) AS unit
      FROM vouchers WHERE commitment_id = :commitment_id) o,
     commitments c JOIN deals d ON d.id = c.deal_id
WHERE v.id = o.id AND c.id = :commitment_id
"""
)
