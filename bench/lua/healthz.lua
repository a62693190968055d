-- The framework's own ceiling: gunicorn + Flask answering a route that touches no database.
request = function()
  return wrk.format("GET", "/healthz")
end
