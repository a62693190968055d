"""Every OpenAPI operation's `operationId`: the names generated clients give their calls.

Kept here, one table for the whole API, so a route's decorator stack stays about behaviour and
a renamed view function or class does not rename a client's call. A new route without an entry
fails app start (see `OperationIdPlugin`).
"""

from apispec import BasePlugin

OPERATION_IDS = {
    ("POST", "/api/v1/accounts"): "createAccount",
    ("POST", "/api/v1/tokens"): "logIn",
    ("DELETE", "/api/v1/tokens/current"): "logOut",
    ("GET", "/api/v1/me"): "getCurrentAccount",
    ("PATCH", "/api/v1/me"): "updateCurrentAccount",
    ("DELETE", "/api/v1/me"): "deleteCurrentAccount",
    ("GET", "/api/v1/me/export"): "exportMyData",
    ("GET", "/api/v1/me/friends"): "listMyFriends",
    ("POST", "/api/v1/me/friends"): "requestFriendship",
    ("POST", "/api/v1/me/friends/{account_id}/accept"): "acceptFriendship",
    ("DELETE", "/api/v1/me/friends/{account_id}"): "removeFriendship",
    ("GET", "/api/v1/me/feed"): "listMyFeed",
    ("POST", "/api/v1/venues"): "createVenue",
    ("GET", "/api/v1/venues/nearby"): "listNearbyVenues",
    ("GET", "/api/v1/venues/{venue_id}"): "getVenue",
    ("PATCH", "/api/v1/venues/{venue_id}"): "updateVenue",
    ("GET", "/api/v1/deals"): "listDealsInViewport",
    ("POST", "/api/v1/deals"): "createDeal",
    ("GET", "/api/v1/deals/nearby"): "listNearbyDeals",
    ("GET", "/api/v1/deals/{deal_id}"): "getDeal",
    ("PATCH", "/api/v1/deals/{deal_id}"): "updateDeal",
    ("POST", "/api/v1/deals/{deal_id}/cancel"): "cancelDeal",
    ("POST", "/api/v1/deals/{deal_id}/commitments"): "commitToDeal",
    ("DELETE", "/api/v1/deals/{deal_id}/commitments/mine"): "withdrawMyCommitments",
    ("GET", "/api/v1/merchant/deals"): "listMerchantDeals",
    ("GET", "/api/v1/me/commitments"): "listMyCommitments",
    ("GET", "/api/v1/me/vouchers"): "listMyVouchers",
    ("POST", "/api/v1/vouchers/{code}/redeem"): "redeemVoucher",
    ("POST", "/api/v1/venues/{venue_id}/checkins"): "checkIn",
    ("GET", "/api/v1/me/checkins"): "listMyCheckins",
    ("GET", "/api/v1/venues/{venue_id}/reward-programs"): "listRewardPrograms",
    ("POST", "/api/v1/venues/{venue_id}/reward-programs"): "createRewardProgram",
    ("GET", "/api/v1/me/rewards"): "listMyRewards",
    ("POST", "/api/v1/rewards/{code}/redeem"): "redeemReward",
    ("GET", "/api/v1/me/notifications"): "listMyNotifications",
    ("POST", "/api/v1/me/notifications/{notification_id}/read"): "markNotificationRead",
    ("POST", "/api/v1/me/devices"): "registerDevice",
    ("DELETE", "/api/v1/me/devices/{device_id}"): "unregisterDevice",
    ("POST", "/api/v1/deals/{deal_id}/shares"): "shareDeal",
    ("GET", "/api/v1/me/shares"): "listMyShares",
    ("GET", "/api/v1/me/credits"): "getMyCredits",
    ("GET", "/api/v1/me/alert-areas"): "listMyAlertAreas",
    ("POST", "/api/v1/me/alert-areas"): "createAlertArea",
    ("DELETE", "/api/v1/me/alert-areas/{area_id}"): "deleteAlertArea",
    ("GET", "/api/v1/webhooks"): "listWebhooks",
    ("POST", "/api/v1/webhooks"): "createWebhook",
    ("GET", "/api/v1/webhooks/{webhook_id}"): "getWebhook",
    ("DELETE", "/api/v1/webhooks/{webhook_id}"): "deleteWebhook",
    ("GET", "/api/v1/webhooks/{webhook_id}/deliveries"): "listWebhookDeliveries",
    ("POST", "/api/v1/venues/{venue_id}/reviews"): "reviewVenue",
    ("GET", "/api/v1/venues/{venue_id}/reviews"): "listVenueReviews",
    ("PATCH", "/api/v1/reviews/{review_id}"): "updateReview",
    ("DELETE", "/api/v1/reviews/{review_id}"): "deleteReview",
    ("PUT", "/api/v1/reviews/{review_id}/reply"): "replyToReview",
    ("POST", "/api/v1/reviews/{review_id}/reports"): "reportReview",
    ("POST", "/api/v1/payments/stripe/webhook"): "receiveStripeWebhook",
    ("POST", "/api/v1/payments/{payment_id}/confirm"): "confirmPayment",
    ("GET", "/api/v1/me/payments"): "listMyPayments",
    ("POST", "/api/v1/vouchers/{code}/refund"): "refundVoucher",
    ("GET", "/api/v1/merchant/statement"): "getMerchantStatement",
}


class OperationIdPlugin(BasePlugin):
    """apispec plugin that names each operation from `OPERATION_IDS` (a missing name fails)."""

    def operation_helper(self, path=None, operations=None, **kwargs):
        """Set `operationId` on every operation of `path`."""
        for method, operation in operations.items():
            key = (method.upper(), path)
            if key not in OPERATION_IDS:
                raise LookupError(
                    f"{method.upper()} {path} has no operationId in core/operation_ids.py"
                )
            operation["operationId"] = OPERATION_IDS[key]
