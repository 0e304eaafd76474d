-- wrk script: POST /identity/v3/auth/tokens with a password body.
-- Args: a file with the body (bench/run.sh writes it: oxstack's admin, or
-- the OS_* credentials of the cloud it compares).
function init(args)
  local file = assert(io.open(args[1]))
  wrk.body = file:read("*a")
  file:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end
