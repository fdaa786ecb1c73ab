-- A fetch: the client's language, from Accept-Language ("fr-CA,fr;q=0.9" -> "fr").
local function language(accept)
   return accept:match("^(%a%a)") or "en"
end
core.register_fetches("lang", function(txn)
   return language(txn.sf:req_hdr("accept-language"))
end)

-- A converter: mask all but the last four characters ("4111111111111111" -> "************1111").
local function mask(value)
   return string.rep("*", math.max(#value - 4, 0)) .. value:sub(-4)
end
core.register_converters("mask", mask)

-- An HTTP action: refuse requests without an API key, with a reply built in Lua.
core.register_action("require_key", {"http-req"}, function(txn, header)
   if txn.sf:req_hdr(header) == "" then
      local reply = txn:reply{status = 401, body = "missing " .. header .. "\n"}
      reply:add_header("content-type", "text/plain")
      reply:add_header("www-authenticate", "ApiKey")
      txn:done(reply)
   end
end, 1)

-- A service: answer JSON with the same language and masked key.
core.register_service("whoami", "http", function(applet)
   local accept = applet.headers["accept-language"]
   local body = string.format('{"lang":"%s","key":"%s"}\n', language(accept and accept[0] or ""),
                              mask(applet.headers["x-api-key"][0]))
   applet:set_status(200)
   applet:add_header("content-type", "application/json")
   applet:add_header("content-length", #body)
   applet:start_response()
   applet:send(body)
end)
