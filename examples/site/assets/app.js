// Every file of a version is immutable; this one is served with the version it belongs to.
console.log("cutover sample site loaded");
