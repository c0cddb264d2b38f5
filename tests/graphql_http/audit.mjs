// Runs graphql-http's server audits against the URL given and prints one JSON line per audit.
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
const results = [];
for (const audit of serverAudits({ url })) {
  const result = await audit.fn();
  results.push({ id: result.id, name: result.name, status: result.status, reason: result.reason || null });
}
process.stdout.write(JSON.stringify(results));
