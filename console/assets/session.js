// The console's one connection and the operator's token, shared by the
// views once logged in (app.js sets them).
export const session = {
  weft: null, // the WeftClient (clients/js), which reconnects and resumes by itself
  token: "", // kept for the HTTP plane (export), which takes it as a Bearer header
  workflows: [], // workflow.list, loaded at login
};

// ownSocket is the socket of the server that served the console: no field
// or URL parameter can point the console (and the operator's token) at
// another host, and the Content-Security-Policy (connect-src 'self') would
// refuse it anyway.
export const ownSocket = () => (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/v1/socket";
