// Make the three mongods one replica set (rs0), once: a second run finds it made and changes
// nothing. Members from RS_MEMBERS (host:port, comma-separated); the compose stack's by default.
// Run by the compose file's mongo-init job and the Kubernetes Job mongo-init.
const members = (process.env.RS_MEMBERS || "mongo-0:27017,mongo-1:27017,mongo-2:27017").split(",");
try {
  rs.status();
  print("replica set rs0 already initiated");
} catch (e) {
  if (e.codeName !== "NotYetInitialized") throw e;
  rs.initiate({
    _id: "rs0",
    members: members.map((host, i) => ({ _id: i, host: host, priority: i === 0 ? 2 : 1 })),
  });
  print("replica set rs0 initiated");
}
