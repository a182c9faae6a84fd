-- POST /gateway/v0.5/sessions with the first fixture facility's credentials.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"clientId":"SBX_000001","clientSecret":"sandbox-secret-0001"}'

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")
