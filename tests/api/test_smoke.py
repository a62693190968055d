def test_a_merchant_can_register_log_in_and_see_itself(api, client):
    merchant = api.register("merchant")
    me = client.get("/api/v1/me", headers=merchant["headers"])
    assert me.status_code == 200
    assert me.json["role"] == "merchant"
