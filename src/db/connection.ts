// The old name of KeptConnection, kept only while src/lease/ and src/release/ are rewritten
// (issue 14): they import it from here. Delete this file once they import kept-connection.js.
export { KeptConnection as Database } from "./kept-connection.js";
