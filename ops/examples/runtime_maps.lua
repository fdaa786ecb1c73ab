-- core.set_map in one worker: the master applies it and sends it to every worker.
core.register_action("set_route", {"http-req"}, function(txn)
   local path = string.sub(txn.sf:path(), 5)
   core.set_map("routes.map", path, txn.sf:req_hdr("x-value") or "")
end)
