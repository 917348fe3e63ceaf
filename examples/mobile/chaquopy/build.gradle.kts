// The app module's build.gradle.kts for an Android app that runs edgecv through Chaquopy (>= 16.1).
// Python 3.13: on it Android is its own platform (sys.platform "android"), which is what edgecv's
// requirements use to pick opencv-python and a pure-Python jsonschema. numpy, opencv-python and Pillow come
// from Chaquopy's own index (pip's first index there); edgecv (the pure wheel, py3-none-any) and ncnn
// (android_24 wheels for arm64-v8a and x86_64) from PyPI.
plugins {
    id("com.android.application")
    id("com.chaquo.python")
}

android {
    namespace = "dev.edgecv.faces"
    compileSdk = 35
    defaultConfig {
        applicationId = "dev.edgecv.faces"
        minSdk = 24                        // ncnn's Android wheels are built for API 24
        targetSdk = 35
        ndk { abiFilters += listOf("arm64-v8a", "x86_64") }
    }
}

chaquopy {
    defaultConfig {
        version = "3.13"
        pip {
            install("edgecv")
            install("ncnn")
        }
    }
    // camera.py (examples/mobile/camera.py) goes in src/main/python/; the model's converted ncnn files
    // (edgecv fetch yunet_n_640 --engine ncnn, then converted-ncnn/ from the cache) in src/main/assets/.
}

// From the CameraX analyzer (Kotlin), once per frame:
//
//   val camera = Python.getInstance().getModule("camera")
//   camera.callAttr("load", modelParamPath, "ncnn", 2)            // once; a path under filesDir
//   analysis.setAnalyzer(executor) { image ->                       // ImageProxy, YUV_420_888
//       val nv21 = toNv21(image)                                    // ByteArray: Y plane, then interleaved V/U
//       val faces = camera.callAttr("on_frame", nv21, image.width, image.height,
//                                   image.imageInfo.rotationDegrees)  // edgecv's rotation: the same number
//       image.close()
//   }
