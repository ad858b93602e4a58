// Prints the HTTP error table that README.md embeds, generated from src/http/errors.ts:
//   npx tsx scripts/http-errors.ts
import { describeErrors } from '../src/http/errors.js';

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(`${describeErrors()}\n`);
