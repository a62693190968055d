dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local token = os.getenv("BENCH_TOKEN")
local half = tonumber(os.getenv("BENCH_BBOX_HALF_DEG") or "0.01")

request = function()
  local lat, lon = random_point()
  return wrk.format("GET", string.format("/api/v1/deals?bbox=%.5f,%.5f,%.5f,%.5f",
                    lon - half * 1.6, lat - half, lon + half * 1.6, lat + half),
                    {["Authorization"] = "Bearer " .. token})
end
