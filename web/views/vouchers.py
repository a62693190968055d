"""Redeeming vouchers at the counter: type the code, or scan it where the browser can."""

from flask import render_template, request

from core.db import get_session, utcnow
from deals.services import get_deal, redeem_voucher
from web.blueprint import bp
from web.pages import attempt, merchant, page


@bp.route("/redeem", methods=["GET", "POST"])
@page()
def redeem():
    """Redeem a voucher of one of the merchant's deals by its code; say why when it cannot be."""
    if request.method == "GET":
        return render_template("merchant/redeem.html", code="", voucher=None, refusal=None)
    code = request.form.get("code", "").strip()
    voucher, refusal = attempt(redeem_voucher, code=code, merchant=merchant(), now=utcnow())
    deal = None if voucher is None else get_deal(session=get_session(), deal_id=voucher.deal_id)
    page_html = render_template(
        "merchant/redeem.html",
        code="" if refusal is None else code,
        voucher=voucher,
        deal=deal,
        refusal=refusal,
    )
    return page_html, 200 if refusal is None else refusal.status
