package node

import (
	"sync"
	"time"
)

// pool holds the frozen warm instances of one function revision.
type pool struct {
	revision string

	mu      sync.Mutex
	idle    []*instance
	retired bool
}

// take returns the most recently used idle instance, thawed, or nil.
func (p *pool) take() *instance {
	for {
		p.mu.Lock()
		if len(p.idle) == 0 {
			p.mu.Unlock()
			return nil
		}
		inst := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		p.mu.Unlock()
		if err := inst.unpark(); err != nil {
			inst.destroy()
			continue
		}
		return inst
	}
}

// put returns an instance; false if the pool was retired meanwhile.
func (p *pool) put(inst *instance) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.retired {
		return false
	}
	p.idle = append(p.idle, inst)
	return true
}

func (p *pool) size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

// expired removes and returns the instances idle since before cutoff.
func (p *pool) expired(cutoff time.Time) []*instance {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*instance
	keep := p.idle[:0]
	for _, inst := range p.idle {
		if inst.lastUsed.Before(cutoff) {
			out = append(out, inst)
		} else {
			keep = append(keep, inst)
		}
	}
	p.idle = keep
	return out
}

// retire destroys idle instances and makes the pool refuse returns.
func (p *pool) retire() {
	p.mu.Lock()
	p.retired = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, inst := range idle {
		inst.destroy()
	}
}
