package sim

// GenerateFor is Generate over another list of providers.
var GenerateFor = generate
