// Validate one GLB with the Khronos glTF validator; print the report summary as JSON.
// usage: node tests/gltf_validate.js FILE.glb   (module resolved from .tools/node_modules)
const path = require("path");
const fs = require("fs");
const validator = require(path.join(__dirname, "..", ".tools", "node_modules", "gltf-validator"));
const file = process.argv[2];
validator
  .validateBytes(new Uint8Array(fs.readFileSync(file)), { maxIssues: 50 })
  .then((report) => {
    const messages = report.issues.messages.filter((m) => m.severity === 0).map((m) => `${m.code}: ${m.message} (${m.pointer})`);
    console.log(JSON.stringify({ errors: report.issues.numErrors, warnings: report.issues.numWarnings, messages }));
  })
  .catch((err) => {
    console.log(JSON.stringify({ errors: 1, warnings: 0, messages: [String(err)] }));
  });
