-- wrk script: POST /identity/v3/auth/tokens with a password body.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin",' ..
  '"domain":{"name":"Default"},"password":"admin"}}},"scope":{"project":{"name":"admin",' ..
  '"domain":{"name":"Default"}}}}}'
