// The one error type of the artifact format library: anything wrong with an artifact's bytes (truncation, bad
// checksums, corrupt compression, forbidden entries, a bad signature). It is an `Invalid`, so an upload answers 400.
import { Invalid } from '../../errors.js';

export class ArtifactError extends Invalid {
  constructor(message: string) {
    super(`invalid artifact: ${message}`);
  }
}
