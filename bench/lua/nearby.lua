dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local token = os.getenv("BENCH_TOKEN")
local radius = os.getenv("BENCH_RADIUS") or "5000"

request = function()
  local lat, lon = random_point()
  return wrk.format("GET", string.format("/api/v1/deals/nearby?lat=%.5f&lon=%.5f&radius_m=%s", lat, lon, radius),
                    {["Authorization"] = "Bearer " .. token})
end
