// Filled in by the app harness: builds the production server once for every e2e suite.
export default async function setup() {}
