-- wrk script: POSTs a JSON body to a path, each request's body made
-- unique: every "%s" in the body becomes a name no other request of the
-- run used (thread number and request count).
--
--   wrk ... URL -s bench/create.lua -- PATH BODY
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

function init(args)
  path, body, sent = args[1], args[2], 0
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  sent = sent + 1
  local name = string.format("bench-%d-%d", thread_id, sent)
  return wrk.format("POST", path, nil, (body:gsub("%%s", name)))
end
