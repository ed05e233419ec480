// cnioracle: the runtime's own verdict on CNI conf dirs, for chainfsm's differential tests.
//
// It loads each directory with containerd's go-cni exactly as containerd's CRI plugin does
// (New with the conf dir and max_conf_num = 1, then Load(WithLoNetwork, WithDefaultConf)),
// so libcni's ConfFiles, ConfListFromFile, ConfFromFile and ConfListFromConf decide, and the
// first file wins. Built against Debian's golang-github-containerd-go-cni-dev and
// golang-github-containernetworking-cni-dev: the sources Debian's containerd is built from.
//
// Protocol, one JSON object a line each way, so one process judges many cases:
//   in:  {"dir": "/path/to/conf/dir"}
//   out: {"ok": true, "first": "<base64 name>", "name": "...", "cniVersion": "...",
//         "plugins": [{"type": "...", "name": "...", "cniVersion": "...", "source": "..."}]}
//   or   {"ok": false, "error": "..."}
package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"

	gocni "github.com/containerd/go-cni"
	"github.com/containernetworking/cni/libcni"
)

type request struct {
	Dir string `json:"dir"`
}

type plugin struct {
	Type       string `json:"type"`
	Name       string `json:"name"`
	CNIVersion string `json:"cniVersion"`
	Source     string `json:"source"`
}

type verdict struct {
	OK         bool     `json:"ok"`
	Error      string   `json:"error,omitempty"`
	First      []byte   `json:"first,omitempty"`
	Name       string   `json:"name"`
	CNIVersion string   `json:"cniVersion"`
	Plugins    []plugin `json:"plugins"`
}

func judge(dir string) verdict {
	cni, err := gocni.New(
		gocni.WithMinNetworkCount(2),
		gocni.WithPluginConfDir(dir),
		gocni.WithPluginMaxConfNum(1),
		gocni.WithPluginDir([]string{"/nonexistent"}),
	)
	if err != nil {
		return verdict{Error: err.Error()}
	}
	if err := cni.Load(gocni.WithLoNetwork, gocni.WithDefaultConf); err != nil {
		return verdict{Error: err.Error()}
	}
	networks := cni.GetConfig().Networks
	if len(networks) != 2 {
		return verdict{Error: "expected the loopback network and one more"}
	}
	// The same listing go-cni made, to name the file it loaded (the first in sort order).
	files, err := libcni.ConfFiles(dir, []string{".conf", ".conflist", ".json"})
	if err != nil || len(files) == 0 {
		return verdict{Error: "the conf dir changed while it was judged"}
	}
	sort.Strings(files)
	list := networks[1].Config
	out := verdict{
		OK:         true,
		First:      []byte(filepath.Base(files[0])),
		Name:       list.Name,
		CNIVersion: list.CNIVersion,
		Plugins:    []plugin{},
	}
	for _, p := range list.Plugins {
		out.Plugins = append(out.Plugins, plugin{
			Type: p.Network.Type, Name: p.Network.Name, CNIVersion: p.Network.CNIVersion,
			Source: p.Source,
		})
	}
	return out
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<26)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			os.Exit(2)
		}
		if err := out.Encode(judge(req.Dir)); err != nil {
			os.Exit(3)
		}
	}
}
