// Initiate the replica set rs0 once (the streaming job and change streams need a replica set),
// then wait until a primary is elected so the services started after this one can write.
const config = {
  _id: "rs0",
  members: [
    { _id: 0, host: "mongo-1:27017", priority: 2 },
    { _id: 1, host: "mongo-2:27017", priority: 1 },
    { _id: 2, host: "mongo-3:27017", priority: 1 },
  ],
};
try {
  rs.status();
  print("replica set rs0 already initiated");
} catch (e) {
  if (e.codeName !== "NotYetInitialized") throw e;
  rs.initiate(config);
  print("replica set rs0 initiated");
}
const deadline = Date.now() + 120 * 1000;
while (!db.hello().isWritablePrimary && !db.hello().primary) {
  if (Date.now() > deadline) throw new Error("no primary elected within 120 s");
  sleep(1000);
}
print("primary: " + db.hello().primary);
