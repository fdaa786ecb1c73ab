function hello_world(txn)
   txn.res:send("hello world\n")
   txn:close()
end
