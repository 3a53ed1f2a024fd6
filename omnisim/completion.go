package omnisim

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// maxChoices bounds n; vLLM's own limit depends on memory.
const maxChoices = 64

type chatResponse struct {
	ID      string       `json:"id"`
	Object  string       `json:"object"`
	Created int64        `json:"created"`
	Model   string       `json:"model"`
	Choices []chatChoice `json:"choices"`
	Usage   usage        `json:"usage"`
}

type chatChoice struct {
	Index        int           `json:"index"`
	Message      choiceMessage `json:"message"`
	FinishReason string        `json:"finish_reason"`
}

type choiceMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
	// PromptTokensDetails is null unless Config.PromptTokensDetails, as
	// vLLM's is without --enable-prompt-tokens-details.
	PromptTokensDetails *promptDetails `json:"prompt_tokens_details"`
}

type promptDetails struct {
	CachedTokens int `json:"cached_tokens"`
}

// plan is a validated request ready to be answered.
type plan struct {
	requestID  string
	prompt     *prompt
	answer     answerContext
	n          int
	trialBase  int
	greedy     bool
	structured bool
	maxTokens  int // 0 = unlimited
	detectedBy string
}

func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) {
	requestID := r.Header.Get("X-Request-Id")
	if requestID != "" {
		w.Header().Set("X-Request-Id", requestID)
	}
	p, status, err := s.readPlan(w, r, requestID)
	if err != nil {
		s.count(func(st *Stats) { st.BadRequests++ })
		s.log.Info("rejected request", "request_id", requestID, "status", status, "error", err)
		kind := "invalid_request_error"
		if status == http.StatusNotFound {
			kind = "not_found_error"
		}
		writeError(w, status, kind, err.Error())
		return
	}
	w.Header().Set("X-Omnisim-Stage", string(p.answer.stage))

	if msg := s.CurrentFaults().RefuseMedia.refusal(p.prompt.image != nil, p.prompt.audio != nil); msg != "" {
		s.count(func(st *Stats) { st.Faults.MediaRefused++ })
		s.log.Info("refusing media", "request_id", requestID, "stage", p.answer.stage, "error", msg)
		writeError(w, http.StatusInternalServerError, "server_error", msg)
		return
	}
	fault, garbage, faults := s.drawFault()
	switch fault {
	case faultError:
		s.count(func(st *Stats) { st.Faults.Errors++ })
		s.log.Info("injecting error", "request_id", requestID, "stage", p.answer.stage)
		writeError(w, http.StatusInternalServerError, "server_error", "omnisim: injected internal error (--error-rate)")
		return
	case faultHang:
		s.count(func(st *Stats) { st.Faults.Timeouts++ })
		s.log.Info("injecting hang", "request_id", requestID, "stage", p.answer.stage, "hang_max", faults.HangMax)
		if err := sleepCtx(r.Context(), faults.HangMax); err != nil {
			return
		}
		writeError(w, http.StatusGatewayTimeout, "server_error", "omnisim: injected hang reached --hang-max "+faults.HangMax.String())
		return
	}

	resp, completionTokens, err := s.compose(p, fault == faultGarbage, garbage)
	if err != nil {
		s.log.Error("cannot compose answer", "request_id", requestID, "error", err)
		writeError(w, http.StatusInternalServerError, "server_error", "omnisim: "+err.Error())
		return
	}
	cum := make([]int, len(p.prompt.segments))
	total := 0
	for i, seg := range p.prompt.segments {
		total += seg.tokens
		cum[i] = total
	}
	sim, err := s.gpu.run(r.Context(), prefixKeys(s.cfg.Model, p.prompt.segments), cum, completionTokens)
	if err != nil {
		s.count(func(st *Stats) { st.Cancelled++ })
		s.log.Debug("client went away", "request_id", requestID, "error", err)
		return
	}

	completion := 0
	for _, t := range completionTokens {
		completion += t
	}
	resp.Usage = usage{
		PromptTokens:     sim.promptTokens,
		CompletionTokens: completion,
		TotalTokens:      sim.promptTokens + completion,
	}
	if s.cfg.PromptTokensDetails {
		resp.Usage.PromptTokensDetails = &promptDetails{CachedTokens: sim.cachedTokens}
	}
	s.count(func(st *Stats) {
		st.Counters.add(p.n, sim, completion)
		c := st.ByStage[p.answer.stage]
		c.add(p.n, sim, completion)
		st.ByStage[p.answer.stage] = c
		if fault == faultGarbage {
			st.Faults.Garbage++
		}
	})
	s.log.Debug("answered", "request_id", requestID, "stage", p.answer.stage, "detected_by", p.detectedBy,
		"n", p.n, "prompt_tokens", sim.promptTokens, "cached_tokens", sim.cachedTokens,
		"completion_tokens", completion, "simulated_ms", sim.totalMs, "fault", fault)
	w.Header().Set("X-Omnisim-Simulated-Ms", strconv.FormatFloat(sim.totalMs, 'f', 3, 64))
	w.Header().Set("X-Omnisim-Queue-Ms", strconv.FormatFloat(sim.queueMs, 'f', 3, 64))
	writeJSON(w, http.StatusOK, resp)
}

// readPlan decodes and validates the request. Errors carry the HTTP status.
func (s *Server) readPlan(w http.ResponseWriter, r *http.Request, requestID string) (*plan, int, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("request body exceeds %d bytes", maxBodyBytes)
		}
		return nil, http.StatusBadRequest, fmt.Errorf("read request body: %w", err)
	}
	req, err := decodeChatRequest(body)
	if err != nil {
		return nil, http.StatusBadRequest, err
	}
	if req.Model != "" && req.Model != s.cfg.Model {
		return nil, http.StatusNotFound, fmt.Errorf("the model %q does not exist; omnisim serves %q", req.Model, s.cfg.Model)
	}
	p, err := s.planFor(req, requestID)
	if err != nil {
		return nil, http.StatusBadRequest, err
	}
	return p, http.StatusOK, nil
}

func (s *Server) planFor(req *chatRequest, requestID string) (*plan, error) {
	if req.Stream {
		return nil, badRequestf("stream=true is not supported by omnisim")
	}
	pr, err := parsePrompt(req)
	if err != nil {
		return nil, err
	}
	p := &plan{requestID: requestID, prompt: pr, n: 1}
	if req.N != nil {
		if *req.N < 1 || *req.N > maxChoices {
			return nil, badRequestf("n must be between 1 and %d, got %d", maxChoices, *req.N)
		}
		p.n = *req.N
	}
	temperature := 1.0
	if req.Temperature != nil {
		temperature = *req.Temperature
		if !(temperature >= 0 && temperature <= 2) {
			return nil, badRequestf("temperature must be in [0,2], got %v", temperature)
		}
	}
	if req.TopP != nil && !(*req.TopP > 0 && *req.TopP <= 1) {
		return nil, badRequestf("top_p must be in (0,1], got %v", *req.TopP)
	}
	p.greedy = temperature == 0
	for _, limit := range []*int{req.MaxTokens, req.MaxCompletionTokens} {
		if limit == nil {
			continue
		}
		if *limit < 1 {
			return nil, badRequestf("max_tokens must be at least 1, got %d", *limit)
		}
		p.maxTokens = *limit
	}
	schema := ""
	if rf := req.ResponseFormat; rf != nil {
		switch rf.Type {
		case "json_schema":
			if rf.JSONSchema == nil || rf.JSONSchema.Name == "" {
				return nil, badRequestf("response_format json_schema needs json_schema.name (nested form)")
			}
			schema = rf.JSONSchema.Name
			p.structured = true
		case "json_object":
			p.structured = true
		case "text", "":
		default:
			return nil, badRequestf("response_format.type %q must be json_schema, json_object or text", rf.Type)
		}
	}

	det, err := detectStage(requestID, schema, pr.lastUser)
	if err != nil {
		return nil, err
	}
	p.detectedBy = det.from
	p.trialBase = det.trial
	if det.source >= maxSources {
		return nil, badRequestf("source index s%d is out of range (at most s%d)", det.source, maxSources-1)
	}
	needImage := det.stage == StageLocate || det.stage == StageRefine
	switch {
	case needImage && pr.image == nil:
		return nil, badRequestf("the %s stage needs an image_url part (its size bounds the box)", det.stage)
	case det.stage == StageAudio && pr.audio == nil:
		return nil, badRequestf("the audio stage needs an input_audio part")
	}
	p.answer = answerContext{
		stage:       det.stage,
		sources:     sourceCount(det, pr.lastUser, s.cfg.Sources),
		source:      det.source,
		media:       pr.media,
		image:       pr.image,
		temperature: temperature,
	}
	if det.stage == StageLocate {
		p.answer.hint = hintThirds(pr.lastUser)
	}
	if pr.image != nil {
		p.answer.previous = previousBox(pr.lastUser, pr.image.width, pr.image.height)
	}
	return p, nil
}

// compose builds the response body and each choice's completion tokens.
func (s *Server) compose(p *plan, garbage bool, kind garbageKind) (*chatResponse, []int, error) {
	id := "chatcmpl-" + p.requestID
	if p.requestID == "" {
		id = fmt.Sprintf("chatcmpl-omnisim-%d", s.anonymousIDs.Add(1))
	}
	resp := &chatResponse{ID: id, Object: "chat.completion", Created: time.Now().Unix(), Model: s.cfg.Model}
	tokens := make([]int, p.n)
	for i := range p.n {
		trial := p.trialBase + i
		if p.greedy {
			trial = 0
		}
		ac := &p.answer
		value := s.answer(ac, trial)
		wrap := s.rng("wrap "+string(ac.stage), ac.media, ac.source, trial)
		pure, content, err := render(value, p.structured, wrap)
		if err != nil {
			return nil, nil, err
		}
		if garbage {
			content = spoil(pure, kind)
		}
		finish := "stop"
		tokens[i] = textTokens(len(content))
		if p.maxTokens > 0 && tokens[i] > p.maxTokens {
			content = cutUTF8(content, 4*p.maxTokens)
			tokens[i] = p.maxTokens
			finish = "length"
		}
		resp.Choices = append(resp.Choices, chatChoice{
			Index:        i,
			Message:      choiceMessage{Role: "assistant", Content: content},
			FinishReason: finish,
		})
	}
	return resp, tokens, nil
}

// cutUTF8 shortens s to at most n bytes without splitting a character.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
