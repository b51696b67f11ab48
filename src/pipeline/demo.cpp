// `wma demo` preset and synthetic scene (see demo.h).
#include "pipeline/demo.h"

#include <algorithm>
#include <cmath>

#include "io/json.h"
#include "io/yaml.h"

namespace wma::pipeline {
namespace {

// tests/fixtures/configs/tiny.yaml without its training-only keys.
constexpr const char* kDemoYaml = R"YAML(model:
  target: unifolm_wma.models.ddpms.LatentVisualDiffusion
  params:
    rescale_betas_zero_snr: true
    parameterization: v
    linear_start: 0.00085
    linear_end: 0.012
    num_timesteps_cond: 1
    timesteps: 1000
    first_stage_key: video
    cond_stage_key: instruction
    cond_stage_trainable: false
    conditioning_key: hybrid
    image_size:
    - 8
    - 8
    channels: 4
    scale_by_std: false
    scale_factor: 0.18215
    use_ema: false
    uncond_type: empty_seq
    use_dynamic_rescale: true
    base_scale: 0.7
    fps_condition_type: fps
    perframe_ae: true
    freeze_embedder: true
    n_obs_steps_imagen: 2
    n_obs_steps_acting: 2
    agent_state_dim: 16
    agent_action_dim: 16
    decision_making_only: false
    input_pertub: 0.1
    lr_scheduler: cosine
    lr_warmup_steps: 2000
    num_epochs: 30000
    gradient_accumulate_every: 1
    use_scheduler: true
    dp_use_ema: true
    noise_scheduler_config:
      target: diffusers.DDIMScheduler
      params:
        num_train_timesteps: 1000
        beta_start: 0.0001
        beta_end: 0.02
        beta_schedule: squaredcos_cap_v2
        clip_sample: true
        set_alpha_to_one: true
        steps_offset: 0
        prediction_type: epsilon
    wma_config:
      target: unifolm_wma.modules.networks.wma_model.WMAModel
      params:
        in_channels: 8
        out_channels: 4
        model_channels: 64
        attention_resolutions:
        - 1
        - 2
        num_res_blocks: 2
        channel_mult:
        - 1
        - 2
        - 2
        - 4
        dropout: 0.1
        num_head_channels: 32
        transformer_depth: 1
        context_dim: 1024
        use_linear: true
        use_checkpoint: false
        temporal_conv: true
        temporal_attention: true
        temporal_selfatt_only: true
        use_relative_position: false
        use_causal_attention: false
        temporal_length: 16
        addition_attention: true
        image_cross_attention: true
        default_fs: 10
        fs_condition: true
        cross_attention_scale_learnable: false
        n_obs_steps: ${model.params.n_obs_steps_imagen}
        num_stem_token: 16
        base_model_gen_only: false
        unet_head_config:
          target: unifolm_wma.models.diffusion_head.conditional_unet1d.ConditionalUnet1D
          params:
            input_dim: ${model.params.agent_action_dim}
            n_obs_steps: ${model.params.n_obs_steps_acting}
            diffusion_step_embed_dim: 32
            down_dims:
            - 32
            - 64
            - 64
            - 128
            kernel_size: 5
            n_groups: 8
            cond_predict_scale: true
            num_head_channels: ${model.params.wma_config.params.num_head_channels}
            horizon: ${model.params.wma_config.params.temporal_length}
            use_linear_attn: ${model.params.wma_config.params.use_linear}
            use_linear_act_proj: true
            act_proj_dim: 32
            cond_cross_attention: false
            context_dims: []
            image_size: ${model.params.image_size}
            imagen_cond_gradient: true
            last_frame_only: false
            use_imagen_mid_only: false
            use_z_only: false
            obs_encoder_config:
              target: unifolm_wma.models.diffusion_head.vision.multi_image_obs_encoder.MultiImageObsEncoder
              params:
                rgb_model_config:
                  target: unifolm_wma.models.diffusion_head.vision.model_getter.get_resnet
                  params:
                    name: resnet18
                    weights: null
                resize_shape: null
                crop_shape: null
                random_crop: false
                use_group_norm: true
                share_rgb_model: false
                imagenet_norm: true
                use_spatial_softmax: true
                spatial_softmax_kp: 32
                shape_meta_path: <built-in>
        stem_process_config:
          target: unifolm_wma.modules.encoders.condition.SATokenProjector
          params:
            dim: 1024
            depth: 1
            dim_head: 32
            heads: 8
            num_queries: ${model.params.wma_config.params.num_stem_token}
            output_dim: 1024
            ff_mult: 1
            chunk_size: ${model.params.wma_config.params.temporal_length}
    first_stage_config:
      target: unifolm_wma.models.autoencoder.AutoencoderKL
      params:
        embed_dim: 4
        monitor: val/rec_loss
        ddconfig:
          double_z: true
          z_channels: 4
          resolution: 256
          in_channels: 3
          out_ch: 3
          ch: 32
          ch_mult:
          - 1
          - 2
          - 4
          - 4
          num_res_blocks: 1
          attn_resolutions: []
          dropout: 0.0
        lossconfig:
          target: torch.nn.Identity
    cond_stage_config:
      target: unifolm_wma.modules.encoders.condition.FrozenOpenCLIPEmbedder
      params:
        freeze: true
        layer: penultimate
        arch: wma-fixture-tiny-clip
        version: null
        device: cpu
    img_cond_stage_config:
      target: unifolm_wma.modules.encoders.condition.FrozenOpenCLIPImageEmbedderV2
      params:
        freeze: true
        arch: wma-fixture-tiny-clip
        version: null
        device: cpu
    image_proj_stage_config:
      target: unifolm_wma.modules.encoders.resampler.Resampler
      params:
        dim: 256
        depth: 2
        dim_head: 32
        heads: 4
        num_queries: 16
        embedding_dim: 160
        output_dim: 1024
        ff_mult: 2
        video_length: ${model.params.wma_config.params.temporal_length}
open_clip_model_configs:
  wma-fixture-tiny-clip:
    embed_dim: 64
    vision_cfg:
      image_size: 224
      layers: 3
      width: 160
      head_width: 80
      mlp_ratio: 2.0
      patch_size: 14
    text_cfg:
      context_length: 77
      vocab_size: 49408
      width: 1024
      heads: 16
      layers: 3
)YAML";

constexpr const char* kDemoShapeMeta =
    R"({"obs": {"image": {"shape": [3, 64, 64], "type": "rgb"}, "agent_pos": {"shape": [16], "type": "low_dim"}},
        "action": {"shape": [16]}})";

}  // namespace

WorldModelConfig demo_config() {
  WorldModelConfig c = WorldModelConfig::from_yaml(io::parse_yaml(kDemoYaml, "<demo preset>"),
                                                   io::json::parse(kDemoShapeMeta), "<demo preset>");
  c.perframe_ae = true;
  return c;
}

std::string demo_merges_text() {
  // OpenCLIP's vocabulary size needs 48894 merges; pairs of CLIP's byte symbols (bytes_to_unicode) give
  // unique ones. The ids are meaningless, which deterministic weights do not mind.
  std::vector<std::string> symbols;
  int extra = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const int code = printable ? b : 256 + extra++;
    std::string utf8;
    if (code < 0x80) utf8 += static_cast<char>(code);
    else utf8 += static_cast<char>(0xC0 | (code >> 6)), utf8 += static_cast<char>(0x80 | (code & 0x3F));
    symbols.push_back(utf8);
  }
  std::string merges = "#version: wma demo\n";
  constexpr int kMerges = 49152 - 256 - 2;
  for (int i = 0; i < kMerges; ++i) merges += symbols[i / 256] + " " + symbols[i % 256] + "\n";
  return merges;
}

models::ClipTokenizer demo_tokenizer() { return models::ClipTokenizer::from_merges_text(demo_merges_text()); }

DemoScene make_demo_scene(std::int64_t height, std::int64_t width, std::int64_t state_pad) {
  DemoScene scene;
  scene.instruction = "Stack the blocks: red at the bottom, yellow in the middle, green on top.";
  std::vector<float> rgb(static_cast<std::size_t>(height * width * 3));
  struct Box {
    double x0, y0, x1, y1;
    float r, g, b;
  };
  // Fractions of the frame: three blocks on a table and a grey arm reaching in from the top.
  const Box boxes[] = {{0.15, 0.62, 0.32, 0.78, 0.85f, 0.15f, 0.12f},
                       {0.42, 0.60, 0.58, 0.76, 0.95f, 0.85f, 0.15f},
                       {0.68, 0.63, 0.84, 0.79, 0.20f, 0.70f, 0.25f},
                       {0.46, 0.00, 0.54, 0.42, 0.55f, 0.55f, 0.58f},
                       {0.40, 0.38, 0.60, 0.46, 0.35f, 0.35f, 0.38f}};
  for (std::int64_t y = 0; y < height; ++y)
    for (std::int64_t x = 0; x < width; ++x) {
      const double u = (x + 0.5) / width, v = (y + 0.5) / height;
      // Wall above, wooden table below with a soft gradient.
      float r = v < 0.5 ? 0.80f : 0.62f - 0.1f * static_cast<float>(v), g = v < 0.5 ? 0.82f : 0.45f,
            b = v < 0.5 ? 0.86f : 0.30f;
      for (const Box& bx : boxes)
        if (u >= bx.x0 && u < bx.x1 && v >= bx.y0 && v < bx.y1) r = bx.r, g = bx.g, b = bx.b;
      float* p = &rgb[static_cast<std::size_t>((y * width + x) * 3)];
      p[0] = r * 2.0f - 1.0f, p[1] = g * 2.0f - 1.0f, p[2] = b * 2.0f - 1.0f;
    }
  scene.image = Tensor::from_floats({height, width, 3}, rgb);
  scene.state.assign(static_cast<std::size_t>(state_pad), 0.0f);
  for (std::int64_t d = 0; d < scene.state_dim && d < state_pad; ++d)
    scene.state[d] = static_cast<float>(0.6 * std::sin(0.9 * static_cast<double>(d) + 0.3));
  return scene;
}

}  // namespace wma::pipeline
