package processor

// routeUser returns the engine that serves a user, and the user's arm,
// from the batch's engine eng: without an A/B split, eng and "".
func (p *Processor) routeUser(eng *Engine, _ string) (*Engine, string) {
	return eng, ""
}
